"""Turning per-frame class scores into text: greedy, CTC prefix beam search, lexicon.

All decoders take logits ``(B, T, C)`` as host arrays (class 0 is the blank) and
return texts with confidences. Greedy is the default and what training reports; beam search
keeps the ``beam_width`` best prefixes, summing over the alignments of each; lexicon
decoding (the CRNN paper's lexicon-based transcription) picks, among the words of a
list within ``max_edits`` of the greedy reading, the one the model gives the highest
probability, computed exactly with the CTC forward algorithm.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from ocr.text import BLANK, CTCCodec, best_path_numpy


def _logsumexp(*values: float) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def prefix_beam_search(
    log_probs: np.ndarray, beam_width: int = 10, prune: float = -12.0
) -> tuple[tuple[int, ...], float]:
    """The most probable labelling of one sequence ``(T, C)`` and its log-probability.

    Each prefix carries the log-probabilities of its alignments ending in a blank and in
    its last class; classes below ``prune`` (log-probability) at a frame are not tried.
    """
    beams = {(): (0.0, -math.inf)}  # prefix -> (ending in blank, ending in a class)
    for frame in log_probs:
        candidates = np.flatnonzero(frame > prune)
        grown: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (blank, label) in beams.items():
            total = _logsumexp(blank, label)
            for c in candidates:
                p = float(frame[c])
                if c == BLANK:
                    entry = grown[prefix]
                    entry[0] = _logsumexp(entry[0], total + p)
                    continue
                extended = prefix + (int(c),)
                entry = grown[extended]
                if prefix and prefix[-1] == c:
                    # A repeat needs a blank in between; without one it stays the same prefix.
                    entry[1] = _logsumexp(entry[1], blank + p)
                    same = grown[prefix]
                    same[1] = _logsumexp(same[1], label + p)
                else:
                    entry[1] = _logsumexp(entry[1], total + p)
        ranked = sorted(grown.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)[:beam_width]
        beams = {prefix: tuple(scores) for prefix, scores in ranked}
    best, scores = max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))
    return best, _logsumexp(*scores)


def sequence_log_prob(log_probs: np.ndarray, codec: CTCCodec, texts: list[str]) -> np.ndarray:
    """log P(text | image) for each text under one image's ``(T, C)`` log-probabilities."""
    import torch
    import torch.nn.functional as F

    targets, lengths = codec.encode(texts)
    frames = log_probs.shape[0]
    expanded = torch.from_numpy(log_probs).float().unsqueeze(1).expand(frames, len(texts), log_probs.shape[1])
    nll = F.ctc_loss(
        expanded,
        targets,
        torch.full((len(texts),), frames, dtype=torch.long),
        lengths,
        blank=BLANK,
        reduction="none",
        zero_infinity=False,
    )
    return -nll.numpy()


@dataclass
class Decoder:
    """``method``: greedy, beam or lexicon (see the module's docstring)."""

    codec: CTCCodec
    method: str = "greedy"
    beam_width: int = 10
    lexicon: str | Path | list[str] | None = None
    max_edits: int = 3

    def __post_init__(self) -> None:
        if self.method not in ("greedy", "beam", "lexicon"):
            raise ValueError(f"decode.method must be greedy, beam or lexicon, got {self.method!r}")
        self.words: list[str] = []
        if self.method == "lexicon":
            if not self.lexicon:
                raise ValueError("decode.method=lexicon needs decode.lexicon: a word list file (one per line)")
            words = (
                self.lexicon
                if isinstance(self.lexicon, list)
                else Path(self.lexicon).read_text(encoding="utf-8").split("\n")
            )
            self.words = sorted({w.strip() for w in words if w.strip() and not self.codec.unknown_chars(w.strip())})
            if not self.words:
                raise ValueError(f"decode.lexicon {self.lexicon}: no word the alphabet can spell")

    def __call__(self, logits: np.ndarray) -> tuple[list[str], list[float]]:
        logits = np.asarray(logits, dtype=np.float32)
        indices, confidences = best_path_numpy(logits)
        texts = self.codec.decode_indices(indices)
        if self.method == "greedy":
            return texts, confidences.tolist()
        top = logits.max(axis=-1, keepdims=True)
        log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
        frames = max(1, log_probs.shape[1])
        if self.method == "beam":
            results = [prefix_beam_search(seq, self.beam_width) for seq in log_probs]
            return (
                ["".join(self.codec.alphabet[c - 1] for c in prefix) for prefix, _ in results],
                [math.exp(score / frames) for _, score in results],
            )
        chosen, scores = [], []
        for seq, reading in zip(log_probs, texts):
            near = process.extract(
                reading, self.words, scorer=Levenshtein.distance, score_cutoff=self.max_edits, limit=50
            )
            if not near:  # nothing within max_edits: the closest words
                near = process.extract(reading, self.words, scorer=Levenshtein.distance, limit=5)
            candidates = [word for word, _, _ in near]
            log_p = sequence_log_prob(seq, self.codec, candidates)
            best = int(np.argmax(log_p))
            chosen.append(candidates[best])
            scores.append(math.exp(float(log_p[best]) / frames))
        return chosen, scores
