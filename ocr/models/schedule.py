"""The learning-rate schedule: linear warm-up, then cosine annealing to zero."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(
    warmup: int, total: float, anneal: bool, spent: Callable[[], float] | None = None
) -> Callable[[int], float]:
    """The factor of the learning rate at each step of ``total`` (may be infinite): rising
    linearly over ``warmup`` steps, then annealed to zero along a cosine if ``anneal`` (the
    blog post's CosineAnnealingLR), else constant. ``spent``: the share (0 to 1) of a time
    budget used so far, where the run has one: the cosine then follows whichever of the
    steps or the time has gone further, so that a run its time limit stops ends annealed."""
    warmup = int(min(warmup, total - 1))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if not anneal:
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if spent is not None:
            progress = max(progress, spent())
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor
