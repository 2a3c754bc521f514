"""The learning-rate schedule: linear warm-up, then cosine annealing to zero."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(warmup: int, total: int, anneal: bool) -> Callable[[int], float]:
    """The factor of the learning rate at each step of ``total``: rising linearly over
    ``warmup`` steps, then annealed to zero along a cosine if ``anneal`` (the blog post's
    CosineAnnealingLR), else constant."""
    warmup = min(warmup, total - 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if not anneal:
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor
