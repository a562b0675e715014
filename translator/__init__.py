"""keras2torch: translates Keras training scripts into standalone PyTorch scripts."""

from .api import Result, TranslationError, translate_source

__all__ = ["translate_source", "TranslationError", "Result"]
__version__ = "0.1.0"
