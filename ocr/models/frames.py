"""The CRNN's output length: how many CTC frames an input width gives (no torch needed)."""

from __future__ import annotations


def output_frames(width):
    """Frames (CTC time steps) the CNN produces for an input ``width`` pixels wide.

    Two 2x2 poolings quarter the width, two (2, 1) poolings with padding 1 add a column
    each and the last 2x2 convolution removes one: ``T = width // 4 + 1``.
    """
    return width // 4 + 1


def min_width(frames: int) -> int:
    """The narrowest input width giving at least ``frames`` CTC frames."""
    return max(4 * (frames - 1), 8)
