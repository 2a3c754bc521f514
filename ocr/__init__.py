"""ocr: train, evaluate and ship custom text recognisers (CRNN + CTC).

``from ocr import Recognizer`` loads nothing heavy until it is used.
"""

__all__ = ["Reading", "Recognizer", "view_preset"]


def __getattr__(name: str):
    if name in __all__:
        from ocr import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'ocr' has no attribute {name!r}")
