"""How image widths map to CTC frames, shared by the data and the model side (no torch).

The CRNN's CNN quarters the width: an image ``width`` pixels wide gives ``output_frames``
frames, and those are its own frames whatever else is in its batch, provided that the
``MARGIN`` columns after it hold its own background (``ocr.data.images.pad_batch``): the
last of its frames sees up to 26 columns past its right edge (tests/test_crnn.py measures
this), and the recurrent layers only read an image's own frames (``ocr.models.crnn``).
"""

from __future__ import annotations

# Columns of an image's own background that must follow it in a padded batch.
MARGIN = 27


def output_frames(width):
    """Frames (CTC time steps) the CNN produces for an input ``width`` pixels wide; works
    on ints and on integer arrays or tensors alike.

    Two 2x2 poolings quarter the width, two (2, 1) poolings with padding 1 add a column
    each and the last 2x2 convolution removes one: ``T = width // 4 + 1``.
    """
    return width // 4 + 1


def min_width(frames):
    """The narrowest input width giving at least ``frames`` CTC frames; works on ints and
    on integer arrays alike."""
    width = 4 * (frames - 1)
    return max(width, 8) if isinstance(width, int) else width.clip(min=8)


def min_frames(text: str) -> int:
    """Frames CTC needs to emit ``text``: one per character plus a blank between repeats."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))


def label_width(text: str) -> int:
    """The narrowest image that has the frames to spell ``text``."""
    return min_width(min_frames(text))
