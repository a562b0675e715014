"""keras2torch: translates Keras training scripts into standalone PyTorch scripts."""

from .api import Result, TranslationError, translate_source

__all__ = ["Result", "TranslationError", "translate_source"]
__version__ = "0.1.0"
