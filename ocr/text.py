"""The alphabet and the CTC codec: strings to class indices and back.

Class 0 is the CTC blank; character ``alphabet[i]`` is class ``i + 1``, so a model
for an alphabet of N characters has N + 1 output classes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: ONNX inference runs without it
    import torch

BLANK = 0


def check_alphabet(alphabet: str) -> str:
    """Return ``alphabet`` if it is usable for CTC, else raise a ValueError saying why."""
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"alphabet must be a non-empty string, got {alphabet!r}")
    dupes = sorted(c for c, n in Counter(alphabet).items() if n > 1)
    if dupes:
        raise ValueError(
            f"alphabet has duplicate characters {''.join(dupes)!r}: each character must "
            "appear once (remove the repeats from model.alphabet)"
        )
    if "\0" in alphabet:
        raise ValueError("alphabet has the NUL character '\\0', which cannot be decoded; remove it")
    return alphabet


def alphabet_difference(theirs: str, ours: str) -> str:
    """What differs between a checkpoint's alphabet and ``model.alphabet``, in words."""
    if theirs == ours:
        return "the alphabets are the same"
    if sorted(theirs) == sorted(ours):
        i = next(i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b)
        return (
            f"the checkpoint's alphabet holds the same {len(ours)} characters as model.alphabet in another "
            f"order (position {i}: {theirs[i]!r} in the checkpoint, {ours[i]!r} in model.alphabet), so every "
            "class would change its character"
        )
    only_theirs = "".join(c for c in theirs if c not in ours)
    only_ours = "".join(c for c in ours if c not in theirs)
    return (
        f"the checkpoint's alphabet ({len(theirs)} characters) is not model.alphabet ({len(ours)}): "
        f"only in the checkpoint {only_theirs!r}, only in model.alphabet {only_ours!r}"
    )


class CTCCodec:
    """Encodes labels for ``torch.nn.functional.ctc_loss`` and decodes model output."""

    def __init__(self, alphabet: str):
        self.alphabet = check_alphabet(alphabet)
        self._index = {c: i + 1 for i, c in enumerate(alphabet)}
        self._codepoints = np.array([0] + [ord(c) for c in alphabet], dtype=np.uint32)

    @property
    def num_classes(self) -> int:
        return len(self.alphabet) + 1

    def unknown_chars(self, text: str) -> str:
        """The characters of ``text`` that the alphabet lacks, in order of first appearance."""
        return "".join(dict.fromkeys(c for c in text if c not in self._index))

    def encode(
        self, labels: Sequence[str], device: "torch.device | str | None" = None
    ) -> "tuple[torch.Tensor, torch.Tensor]":
        """Concatenated class indices (on ``device``) and label lengths (on the CPU).

        The lengths stay on the host: CUDA's CTC loss copies device lengths back to the
        host, a synchronisation every step that host lengths avoid.
        """
        indices: list[int] = []
        for label in labels:
            try:
                indices.extend(self._index[c] for c in label)
            except KeyError:
                raise ValueError(
                    f"label {label!r} has characters {self.unknown_chars(label)!r} outside the "
                    f"alphabet {self.alphabet!r}"
                ) from None
        import torch

        lengths = torch.tensor([len(label) for label in labels], dtype=torch.long)
        targets = torch.tensor(indices, dtype=torch.long)
        if device is not None and torch.device(device).type == "cuda":
            targets = targets.pin_memory().to(device, non_blocking=True)  # no wait for the GPU
        elif device is not None:
            targets = targets.to(device)
        return targets, lengths

    def decode_indices(self, indices: np.ndarray) -> list[str]:
        """Greedy CTC collapse of per-frame class indices ``(B, T)``: merge repeats, drop blanks.

        One vectorised pass for the whole batch (a GPU reads batches faster than a loop decodes):
        the kept characters' code points are moved to the front of each row in order,
        and the row read as a fixed-width string, whose trailing NULs numpy drops.
        """
        indices = np.asarray(indices)
        if indices.shape[1] == 0:
            return [""] * len(indices)
        keep = indices != BLANK
        keep[:, 1:] &= indices[:, 1:] != indices[:, :-1]
        codes = np.where(keep, self._codepoints[indices], 0)
        codes = np.take_along_axis(codes, np.argsort(~keep, axis=1, kind="stable"), axis=1)
        return np.ascontiguousarray(codes).view(f"<U{indices.shape[1]}")[:, 0].tolist()

    @staticmethod
    def best_path(logits: "torch.Tensor", lengths: "torch.Tensor | None" = None) -> "tuple[torch.Tensor, torch.Tensor]":
        """Per-frame best classes ``(B, T)`` and confidences ``(B,)``, on the logits' device.

        ``lengths`` (B,): each image's own frames (``ocr.geometry.output_frames`` of its
        width); later frames are padding, read as blanks. The confidence is the geometric
        mean over its own frames of the best class's probability, a number in [0, 1] that
        does not shrink with the length of the word.
        """
        best, indices = logits.float().log_softmax(-1).max(dim=-1)
        if lengths is None:
            return indices, best.mean(dim=-1).exp()
        import torch

        lengths = lengths.to(indices.device)
        own = torch.arange(indices.shape[1], device=indices.device)[None, :] < lengths[:, None]
        confidences = (best * own).sum(dim=-1) / lengths.clamp(min=1)
        return indices.masked_fill(~own, BLANK), confidences.exp()

    def decode_greedy(
        self, logits: "torch.Tensor", lengths: "torch.Tensor | None" = None
    ) -> "tuple[list[str], torch.Tensor]":
        """Best-path texts and confidences from logits (or log-probabilities) ``(B, T, C)``."""
        indices, confidences = self.best_path(logits, lengths)
        return self.decode_indices(indices.cpu().numpy()), confidences.cpu()


def own_frames(frames: int, lengths: np.ndarray | None, batch: int) -> np.ndarray:
    """``(B, T)`` booleans: which frames are each image's own (all without ``lengths``)."""
    if lengths is None:
        return np.ones((batch, frames), dtype=bool)
    return np.arange(frames)[None, :] < np.asarray(lengths)[:, None]


def best_path_numpy(logits: np.ndarray, lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``CTCCodec.best_path`` for host arrays ``(B, T, C)`` (ONNX inference, no torch)."""
    logits = logits.astype(np.float32, copy=False)
    top = logits.max(axis=-1, keepdims=True)
    best = top[..., 0] - (top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1)))
    own = own_frames(logits.shape[1], lengths, logits.shape[0])
    confidences = np.exp((best * own).sum(axis=-1) / np.maximum(own.sum(axis=-1), 1))
    return np.where(own, logits.argmax(axis=-1), BLANK), confidences
