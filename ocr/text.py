"""The alphabet and the CTC codec: strings to class indices and back.

Class 0 is the CTC blank; character ``alphabet[i]`` is class ``i + 1``, so a model
for an alphabet of N characters has N + 1 output classes.

Labels are stored in logical order (as typed); the model reads an image left to right,
so for an alphabet with right-to-left letters (Arabic, Hebrew) the codec trains on the
visual order and turns what it reads back into logical order (``visual_order``).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: ONNX inference runs without it
    import torch

BLANK = 0


def nfc(text: str) -> str:
    """``text`` in Unicode's composed form (NFC), the one form labels, word lists and readings
    are compared in: "é" typed as e + a combining accent (file names on macOS, some editors)
    becomes the one character é, as keyboards and word lists mostly write it, and a letter
    with a nukta stored as one code point (trdg's Hindi list) becomes the letter + the nukta,
    as it is typed. Glyphs and meaning are the same either way; only the code points differ."""
    return unicodedata.normalize("NFC", text)


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


_RTL = frozenset({"R", "AL"})


def _direction(char: str) -> str:
    """``R`` (right to left), ``L`` (left to right, digits included) or ``N`` (neutral)."""
    kind = unicodedata.bidirectional(char)
    return "R" if kind in _RTL else "L" if kind in ("L", "EN", "AN") else "N"


def has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in _RTL for c in text)


def visual_order(text: str) -> str:
    """A line of ``text`` in the order it is drawn left to right, by the Unicode
    bidirectional algorithm for one line without explicit embeddings: a line whose first
    strong letter is right to left runs right to left, and runs of the other direction
    (numbers, Latin words) keep their own order inside it; a neutral character between two
    runs of one direction joins them, else it takes the line's. Text without right-to-left
    letters comes back as it is. For such a line, read back from an image, the same
    function gives the logical order again (it is its own inverse on lines of this kind:
    right-to-left words with numbers or Latin words in them). Not handled: numbers right
    after right-to-left letters inside a left-to-right line (the full algorithm makes
    them part of the right-to-left run)."""
    if not has_rtl(text):
        return text
    kinds = [_direction(c) for c in text]
    letters = (unicodedata.bidirectional(c) for c in text)  # digits are weak: they set no direction
    line = next(("R" if k in _RTL else "L" for k in letters if k in _RTL or k == "L"), "R")
    for i, kind in enumerate(kinds):  # neutrals: the direction of both neighbours, else the line's
        if kind == "N":
            before = next((k for k in reversed(kinds[:i]) if k != "N"), line)
            after = next((k for k in kinds[i + 1 :] if k != "N"), line)
            kinds[i] = before if before == after else line
    runs, start = [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or kinds[i] != kinds[start]:
            run = text[start:i]
            runs.append(run[::-1] if kinds[start] == "R" else run)
            start = i
    return "".join(reversed(runs) if line == "R" else runs)


class CTCCodec:
    """Encodes labels for ``torch.nn.functional.ctc_loss`` and decodes model output
    (labels and texts in logical order; see ``visual_order``)."""

    def __init__(self, alphabet: str):
        self.alphabet = check_alphabet(alphabet)
        self.bidirectional = has_rtl(alphabet)
        self._index = {c: i + 1 for i, c in enumerate(alphabet)}
        self._codepoints = np.array([0] + [ord(c) for c in alphabet], dtype=np.uint32)
        order = np.argsort(self._codepoints[1:])
        self._sorted_codepoints, self._sorted_classes = self._codepoints[1:][order], order + 1

    @property
    def num_classes(self) -> int:
        return len(self.alphabet) + 1

    def unknown_chars(self, text: str) -> str:
        """The characters of ``text`` that the alphabet lacks, in order of first appearance."""
        if self._index.keys() >= set(text):
            return ""
        return "".join(dict.fromkeys(c for c in text if c not in self._index))

    def classes(self, label: str) -> list[int]:
        """The class indices of ``label`` (logical order) in the order the model reads them
        (visual: left to right); a KeyError for a character outside the alphabet."""
        return [self._index[c] for c in (visual_order(label) if self.bidirectional else label)]

    def class_array(self, texts: Sequence[str]) -> np.ndarray:
        """``classes`` of many texts of one length at once, ``(len(texts), length)``."""
        if self.bidirectional:
            texts = [visual_order(t) for t in texts]
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        codes = codes.reshape(len(texts), len(texts[0]) if len(texts) else 0)
        found = np.minimum(np.searchsorted(self._sorted_codepoints, codes), len(self.alphabet) - 1)
        if (self._sorted_codepoints[found] != codes).any():
            unknown = next(t for t in texts if self.unknown_chars(t))
            raise KeyError(f"{unknown!r} has characters {self.unknown_chars(unknown)!r} outside the alphabet")
        return self._sorted_classes[found]

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
                indices.extend(self.classes(label))
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
        texts = np.ascontiguousarray(codes).view(f"<U{indices.shape[1]}")[:, 0].tolist()
        return [visual_order(t) for t in texts] if self.bidirectional else texts

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


def best_frames(logits: np.ndarray, lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From host logits ``(B, T, C)``: each frame's best class (the blank past each image's
    own frames) and that class's log-probability (0 there), ``(B, T)`` each, and the
    best path's confidence ``(B,)`` as ``CTCCodec.best_path`` gives it."""
    logits = logits.astype(np.float32, copy=False)
    top = logits.max(axis=-1, keepdims=True)
    best = top[..., 0] - (top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1)))
    own = own_frames(logits.shape[1], lengths, logits.shape[0])
    best = best * own
    confidences = np.exp(best.sum(axis=-1) / np.maximum(own.sum(axis=-1), 1))
    return np.where(own, logits.argmax(axis=-1), BLANK), best, confidences


def best_path_numpy(logits: np.ndarray, lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``CTCCodec.best_path`` for host arrays ``(B, T, C)`` (ONNX inference, no torch)."""
    indices, _, confidences = best_frames(logits, lengths)
    return indices, confidences
