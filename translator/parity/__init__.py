"""Parity checking: run a Keras script and its PyTorch translation, and prove they compute the same."""
