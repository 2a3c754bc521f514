"""Recognition metrics, one implementation for training, evaluation and tests.

All state is sums (edits, characters, correct words, ...), so that the reduction across
DDP processes is a plain sum and exact. Two protocols are reported:

- exact: the strings as they are (case and punctuation count), in Unicode's composed form
  (``ocr.text.nfc``: é typed as e + an accent is é);
- ``*_alnum``: the scene-text benchmarks' usual "36-character" protocol: lower-case both
  strings and keep only ``[0-9a-z]``; samples whose normalised label is empty are left
  out of these figures, which are not reported at all when that leaves none (a set in
  another script).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from rapidfuzz.distance import Levenshtein
from torchmetrics import Metric

from ocr.text import nfc

_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def alnum(text: str) -> str:
    """The 36-character protocol's normalisation: lower case, ``[0-9a-z]`` only."""
    return _NOT_ALNUM.sub("", text.lower())


def edit_distance(a: str, b: str) -> int:
    return Levenshtein.distance(a, b)


class TextMetrics(Metric):
    """Word accuracy, character accuracy (1 - corpus CER), 1 - NED and mean confidence."""

    full_state_update = False
    _SUMS = ("edits", "chars", "correct", "count", "ned")

    def __init__(self) -> None:
        super().__init__()
        for name in [*self._SUMS, *(s + "_alnum" for s in self._SUMS), "confidence", "loss", "loss_count"]:
            self.add_state(name, torch.tensor(0.0, dtype=torch.float64), "sum")

    def update(
        self,
        preds: Sequence[str],
        targets: Sequence[str],
        confidences: torch.Tensor | Sequence[float] | None = None,
        loss: torch.Tensor | float | None = None,
    ) -> None:
        """Add a batch; ``loss`` is the batch's mean loss, weighted here by its size."""
        if len(preds) != len(targets):
            raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")
        preds, targets = [nfc(p) for p in preds], [nfc(t) for t in targets]
        self._add("", preds, targets)
        pairs = [(alnum(p), alnum(t)) for p, t in zip(preds, targets)]
        pairs = [(p, t) for p, t in pairs if t]
        self._add("_alnum", [p for p, _ in pairs], [t for _, t in pairs])
        if confidences is not None:
            self.confidence += float(torch.as_tensor(confidences, dtype=torch.float64).sum())
        if loss is not None and targets:
            self.loss += torch.as_tensor(loss).detach().double() * len(targets)
            self.loss_count += len(targets)

    def merge_state(self, incoming_state: dict | Metric) -> None:
        """Add another instance's sums. torchmetrics' merge leaves the update count alone, so
        a metric made only of merges would be taken for never updated (and warn on compute)."""
        super().merge_state(incoming_state)
        if isinstance(incoming_state, Metric):
            self._update_count += incoming_state._update_count

    def _add(self, suffix: str, preds: Sequence[str], targets: Sequence[str]) -> None:
        edits = [edit_distance(p, t) for p, t in zip(preds, targets)]
        sums = {
            "edits": sum(edits),
            "chars": sum(map(len, targets)),
            "correct": sum(p == t for p, t in zip(preds, targets)),
            "count": len(targets),
            "ned": sum(e / max(len(p), len(t), 1) for e, p, t in zip(edits, preds, targets)),
        }
        for name, value in sums.items():
            setattr(self, name + suffix, getattr(self, name + suffix) + value)

    def compute(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {"n": self.count.clone()}
        for protocol in ("", "_alnum"):
            if protocol and self.count_alnum == 0:  # no label has a Latin letter or digit (other scripts)
                continue
            count = getattr(self, "count" + protocol).clamp(min=1)
            cer = getattr(self, "edits" + protocol) / getattr(self, "chars" + protocol).clamp(min=1)
            out["cer" + protocol] = cer
            out["char_accuracy" + protocol] = 1 - cer
            out["word_accuracy" + protocol] = getattr(self, "correct" + protocol) / count
            out["ned" + protocol] = 1 - getattr(self, "ned" + protocol) / count
        out["confidence"] = self.confidence / self.count.clamp(min=1)
        if self.loss_count > 0:
            out["loss"] = self.loss / self.loss_count
        return out
