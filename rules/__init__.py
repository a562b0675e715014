"""Declarative mappings from Keras to PyTorch: the data the translator's engine reads."""
