"""Gradient clipping, and updates skipped on the device when a gradient is not finite."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import torch

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    pass


class NonFiniteGuard:
    """Clips as Lightning does and flags a non-finite update to a fused Adam, which then
    skips it on the device (as under a gradient scaler), both from one gradient norm; the
    host reads the counters only when asked (``check``), so no step waits for the GPU.
    Under DDP the gradients are averaged before this, so every rank decides alike."""

    def __init__(self, max_in_a_row: int):
        self.max_in_a_row = max_in_a_row
        self.counts: dict[str, torch.Tensor] = {}  # skipped in all, in the current run, the longest run
        self.reported = 0

    def clip(self, optimizer, parameters: Iterable[torch.nn.Parameter], clip_val, algorithm) -> None:
        parameters = [p for p in parameters if p.grad is not None]
        if not parameters:
            return
        norm = torch.nn.utils.get_total_norm([p.grad for p in parameters])
        if clip_val and algorithm in (None, "norm"):
            torch.nn.utils.clip_grads_with_norm_(parameters, clip_val, norm)
        elif clip_val:
            torch.nn.utils.clip_grad_value_(parameters, clip_val)
        nonfinite = ~torch.isfinite(norm)
        optimizer.found_inf = nonfinite.float()
        if not self.counts:
            zero = torch.zeros((), dtype=torch.long, device=norm.device)
            self.counts = {"all": zero, "run": zero, "longest": zero}
        self.counts["all"] = self.counts["all"] + nonfinite
        self.counts["run"] = (self.counts["run"] + 1) * nonfinite
        self.counts["longest"] = torch.maximum(self.counts["longest"], self.counts["run"])

    @property
    def skipped(self) -> int:
        """Updates skipped so far (reads the device)."""
        return int(self.counts["all"]) if self.counts else 0

    def check(self, step: int, labels: Sequence[str]) -> None:
        """Report new skips; stop the run after ``max_in_a_row`` in a row, naming the batch."""
        skipped = self.skipped
        if skipped > self.reported:
            log.warning(
                "step %d: %d update(s) skipped for a non-finite loss or gradient (%d so far)",
                step,
                skipped - self.reported,
                skipped,
            )
            self.reported = skipped
        longest = int(self.counts["longest"]) if self.counts else 0
        if longest >= self.max_in_a_row:
            lengths = [len(label) for label in labels]
            raise NonFiniteLossError(
                f"{longest} steps in a row had a non-finite loss or gradient; the last batch had "
                f"{len(lengths)} labels of lengths {min(lengths, default=0)}-{max(lengths, default=0)}: "
                f"{list(labels[:8])}... Lower model.lr, check the labels, or use trainer.precision=32."
            )
