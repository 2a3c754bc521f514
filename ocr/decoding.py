"""Turning per-frame class scores into text: greedy, CTC prefix beam search, word lists.

All decoders take logits ``(B, T, C)`` as host arrays (class 0 is the blank) and
return texts with confidences. Greedy is the default and what training reports; beam search
keeps the ``beam_width`` best prefixes, summing over the alignments of each. Two decoders
use a word list, both scoring the words within ``max_edits`` of the greedy reading exactly
with the CTC forward algorithm:

- ``lexicon`` (the CRNN paper's lexicon mode, closed vocabulary): the most probable word of
  the list, whatever the image says;
- ``dictionary`` (open vocabulary): a unigram language model on top of the recogniser. A
  word of the list scores ``log P(word | image) + word_weight * log P(word)``, its prior
  from the list's counts; the greedy reading itself, as an unknown word, scores
  ``log P(reading | image) + unknown_word_log_prob + unknown_letter_log_prob *
  len(reading)``. The best score wins, so a word the image barely supports replaces a
  reading that is not a word, while a reading the model is sure of (a name, a code, a
  number) stays. Words are tried in lower case, upper case and title case.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from ocr.options import check_numbers
from ocr.text import BLANK, CTCCodec, best_path_numpy, nfc

# `decode.lexicon: english`: SymSpell's English frequency list (82,765 words with their
# counts in Google Books), shipped in the symspellpy package (MIT).
ENGLISH = ("symspellpy", "frequency_dictionary_en_82_765.txt")


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


# Frames between rescalings of the forward algorithm's alphas: float64 holds the product of
# this many frames' probabilities down to e^-700; a text whose every alignment falls below
# that within 4 frames counts as impossible (it would lose to the reading itself anyway).
RESCALE_EVERY = 4


def texts_log_prob(log_probs: np.ndarray, images: np.ndarray, texts: Sequence[str], codec: CTCCodec) -> np.ndarray:
    """log P(texts[k] | image ``images[k]``) for log-probabilities ``(N, T, C)`` of N images
    (frames after an image's own certain of the blank: ``blank_frames``): the CTC forward
    algorithm, all the texts of one length at once (numpy: ONNX inference needs no torch)."""
    frames, classes = log_probs.shape[1], log_probs.shape[2]
    # Probabilities (float64), a frame of all the images flat: a text's states are cells of it.
    probs = np.exp(log_probs.astype(np.float64)).transpose(1, 0, 2).reshape(frames, -1)
    images = np.asarray(images, dtype=np.int64)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    result = np.empty(len(texts))
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        labels = codec.class_array([texts[r] for r in rows])
        result[rows] = _forward(probs, images[rows, None] * classes, labels)
    return result


def _forward(probs: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log P(labels | image) for texts of one length, ``labels`` ``(R, L)``; each text's image
    starts at ``offsets`` ``(R, 1)`` in every frame of ``probs`` ``(T, N x C)``."""
    # Each text as CTC's extended labelling: blank, c1, blank, c2, ..., blank.
    states = 2 * labels.shape[1] + 1
    extended = np.zeros((len(labels), states), dtype=np.int64)
    extended[:, 1::2] = labels
    cells = offsets + extended
    # A class may follow the class two states back unless the two are equal (then a blank must lie between).
    jump = np.zeros(extended.shape)
    jump[:, 2:][(extended[:, 2:] != BLANK) & (extended[:, 2:] != extended[:, :-2])] = 1.0
    # The alphas scaled to a maximum of 1 every few frames and the scales' logs summed:
    # products and sums instead of log-sum-exps, 5x faster. After two columns of zeros, a
    # state's predecessors one and two states back are slices.
    padded = np.zeros((len(labels), states + 2))
    alpha, log_scale = padded[:, 2:], np.zeros(len(labels))
    for t, frame in enumerate(probs):
        emit = frame[cells]
        if t:
            alpha[:] = (alpha + padded[:, 1:-1] + padded[:, :-2] * jump) * emit
        else:
            alpha[:, :2] = emit[:, :2]
        if t % RESCALE_EVERY == 0 or t == len(probs) - 1:
            scale = alpha.max(axis=1)
            scale[scale == 0] = 1.0  # no alignment of the text reaches this frame: it stays at zero
            alpha /= scale[:, None]
            log_scale += np.log(scale)
    last = alpha[:, -1] + (alpha[:, -2] if states > 1 else 0.0)
    with np.errstate(divide="ignore"):  # log(0): the text cannot be aligned with these frames
        return np.log(last) + log_scale


def blank_frames(views: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Log-probabilities of B images in V views (other widths, other models), each view
    ``(B, T_v, C)`` with each image's own frames ``(B,)``, as ``(V x B, T, C)``, view after
    view: the frames after an image's own are certain of the blank, which leaves every
    text's probability as it was (an alignment's last blanks may last longer)."""
    frames = max(int(np.max(own, initial=1)) for _, own in views)
    batch, classes = views[0][0].shape[0], views[0][0].shape[2]
    stacked = np.full((len(views), batch, frames, classes), -np.inf, dtype=np.float32)
    stacked[..., BLANK] = 0.0
    for stack, (view, own) in zip(stacked, views):
        mine = np.arange(min(frames, view.shape[1])) < np.asarray(own)[:, None]
        stack[:, : mine.shape[1]][mine] = view[:, : mine.shape[1]][mine]
    return stacked.reshape(-1, frames, classes)


def read_word_list(source: str | Path | list[str], codec: CTCCodec, key: str = "decode.lexicon") -> dict[str, float]:
    """Words the alphabet can spell and their counts: from a list, or from a file of one
    word per line, each optionally followed by whitespace and its count (a frequency
    list; a line without a count counts once), or ``english`` (see ``ENGLISH``). Errors
    name the option ``key``."""
    if not isinstance(source, (str, Path)):  # a list (also from the command line: [a,b])
        lines = [nfc(str(line)) for line in source]
    else:
        path = Path(source)
        if str(source) == "english" and not path.exists():
            package, name = ENGLISH
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ValueError(f"{key}=english needs the {package} package: pip install {package}")
            path = Path(spec.submodule_search_locations[0]) / name
        if not path.is_file():
            raise ValueError(f"{key}: word list {path} does not exist")
        lines = nfc(path.read_text(encoding="utf-8")).splitlines()
    entries: list[tuple[str, float]] = []
    for number, line in enumerate(lines, 1):
        word, count = line.strip(), 1.0
        fields = word.rsplit(None, 1)
        if len(fields) == 2:
            try:
                word, count = fields[0], float(fields[1])
            except ValueError:  # no count: the whole line is the word (or words)
                pass
        if count <= 0 or not math.isfinite(count):
            raise ValueError(f"{key} {source}, line {number}: {line!r}: a count must be a positive number")
        if word:
            entries.append((word, count))
    # One look at all the words' letters: most lists are spelt whole, and a look per word
    # took most of the time to read SymSpell's 82,765.
    spelt_whole = not codec.unknown_chars("".join(word for word, _ in entries))
    counts: dict[str, float] = {}
    for word, count in entries:
        if spelt_whole or not codec.unknown_chars(word):
            counts[word] = counts.get(word, 0.0) + count
    if not counts:
        raise NothingSpelled(f"{key} {source}: no word the alphabet can spell")
    return counts


class NothingSpelled(ValueError):
    """A word list of which the alphabet spells no word (another script's)."""


_NOT_ALNUM = re.compile(r"[\W_]+")  # \w: what str.isalnum() accepts, and "_"


def word_key(text: str) -> str:
    """What words are matched on: lower case, letters and digits only."""
    return _NOT_ALNUM.sub("", text.lower())


@dataclass
class Decoder:
    """``method``: greedy, beam, lexicon or dictionary (see the module's docstring)."""

    codec: CTCCodec
    method: str = "greedy"
    beam_width: int = 10
    lexicon: str | Path | list[str] | None = None
    max_edits: int = 5
    max_candidates: int = 50  # words scored per reading: the nearest, the most frequent first
    unknown_word_log_prob: float = -5.0
    unknown_letter_log_prob: float = -2.0
    word_weight: float = 0.75  # dictionary: the words' log-priors are weighted by this (a language model's weight)
    scales: Sequence[float] = (1.0,)  # widths the images are read at (see ``__call__``'s views)

    def __post_init__(self) -> None:
        if self.method not in ("greedy", "beam", "lexicon", "dictionary"):
            raise ValueError(f"decode.method must be greedy, beam, lexicon or dictionary, got {self.method!r}")
        self.scales = tuple(float(s) for s in self.scales)
        if not self.scales or min(self.scales) <= 0:
            raise ValueError(f"decode.scales must be positive widening factors, got {list(self.scales)}")
        if len(self.scales) > 1 and not self.uses_views:
            raise ValueError(
                f"decode.scales reads images at several widths for lexicon and dictionary, not {self.method}"
            )
        check_numbers(
            "decode",
            beam_width=(self.beam_width, int, 1),
            max_edits=(self.max_edits, int, 0),
            max_candidates=(self.max_candidates, int, 1),
            word_weight=(self.word_weight, float, 0),
        )
        if self.method == "lexicon" and not self.lexicon:
            raise ValueError("decode.method=lexicon needs decode.lexicon: a word list file (one per line)")
        if self.uses_views:
            counts = read_word_list(self.lexicon or "english", self.codec)
            if self.method == "lexicon":
                self.forms = {word: [word] for word in counts}
            else:  # every spelling the alphabet allows, by its matching key
                self.forms, key_counts = defaultdict(list), defaultdict(float)
                spellings = [(word, word.lower(), word.upper(), word.capitalize()) for word in counts]
                spelt_whole = not self.codec.unknown_chars("".join(map("".join, spellings)))  # one look for all
                for (word, count), forms in zip(counts.items(), spellings):
                    key = word_key(word)
                    key_counts[key] += count
                    for form in forms:
                        if form not in self.forms[key] and (spelt_whole or not self.codec.unknown_chars(form)):
                            self.forms[key].append(form)
                total = sum(key_counts.values())
                self.log_prior = {key: math.log(count / total) for key, count in key_counts.items()}
            self.keys = list(self.forms)
            if self.method == "dictionary":  # most frequent first: of words equally near, they are tried
                self.keys.sort(key=lambda key: -self.log_prior[key])

    @property
    def uses_views(self) -> bool:
        """Whether several readings of an image (widths, models) count: the word-list methods."""
        return self.method in ("lexicon", "dictionary")

    def __call__(
        self,
        logits: np.ndarray,
        lengths: np.ndarray | None = None,
        views: Sequence[tuple[np.ndarray, np.ndarray | None]] = (),
    ) -> tuple[list[str], list[float]]:
        """Texts and confidences for logits ``(B, T, C)`` of which each image's first
        ``lengths`` frames are its own (all frames without ``lengths``). ``views``: logits
        and lengths of the same images read at other widths or by other models (word-list
        methods only): every reading's near words are candidates, and each candidate's
        log-probability is averaged over all the views."""
        log_probs = _log_softmax(np.asarray(logits, dtype=np.float32))
        indices, confidences = best_path_numpy(log_probs, lengths)
        texts = self.codec.decode_indices(indices)
        if self.method == "greedy" or not texts:
            return texts, confidences.tolist()
        all_views = [(log_probs, _lengths(log_probs, lengths))]
        all_views += [(_log_softmax(np.asarray(v, dtype=np.float32)), _lengths(v, n)) for v, n in views]
        frames = np.maximum(all_views[0][1], 1)
        if self.method == "beam":
            results = [prefix_beam_search(seq[:n], self.beam_width) for seq, n in zip(*all_views[0])]
            return (
                ["".join(self.codec.alphabet[c - 1] for c in prefix) for prefix, _ in results],
                [math.exp(score / n) for (_, score), n in zip(results, frames)],
            )
        readings = [texts] + [self.codec.decode_indices(best_path_numpy(v, n)[0]) for v, n in all_views[1:]]
        near = self._near([text for reading in readings for text in reading])  # all views' at once
        nears = [near[k * len(texts) : (k + 1) * len(texts)] for k in range(len(readings))]
        candidates, priors = zip(
            *(self._candidates([r[i] for r in readings], [n[i] for n in nears]) for i in range(len(texts)))
        )
        # Every image's candidates under each of its views at once, then averaged over the views.
        counts = np.array([len(c) for c in candidates])
        owners = np.repeat(np.arange(len(texts)), counts)
        images = (np.arange(len(all_views))[:, None] * len(texts) + owners).ravel()
        flat = [text for texts_i in candidates for text in texts_i]
        fit = texts_log_prob(blank_frames(all_views), images, flat * len(all_views), self.codec)
        fit = fit.reshape(len(all_views), -1).mean(axis=0)
        score = fit + np.concatenate(priors)
        chosen, scores = [], []
        for i, start in enumerate(np.cumsum(counts) - counts):
            best = start + int(np.argmax(score[start : start + counts[i]]))
            chosen.append(flat[best])
            scores.append(math.exp(float(fit[best]) / frames[i]))
        return chosen, scores

    def _near(self, readings: list[str]) -> list[list[str]]:
        """For each reading, the list's words (keys) within ``max_edits``, closest first
        (at most ``max_candidates``); the whole batch at once, on all cores."""
        queries = readings if self.method == "lexicon" else [word_key(r) for r in readings]
        unique = list(dict.fromkeys(queries))  # models and widths often agree: each query once
        distances = process.cdist(
            unique, self.keys, scorer=Levenshtein.distance, score_cutoff=self.max_edits, dtype=np.uint8, workers=-1
        )
        rows = dict(zip(unique, distances))
        found = []
        for query, row in ((q, rows[q]) for q in queries):
            within = np.flatnonzero(row <= self.max_edits)
            if self.method == "lexicon" and not len(within):  # nothing within max_edits: the closest words
                closest = process.extract(query, self.keys, scorer=Levenshtein.distance, limit=5)
                found.append([key for key, _, _ in closest])
                continue
            within = within[np.argsort(row[within], kind="stable")[: self.max_candidates]]
            found.append([self.keys[i] for i in within])
        return found

    def _candidates(self, readings: list[str], nears: list[list[str]]) -> tuple[list[str], np.ndarray]:
        """The spellings to score against the image (its readings and their near words,
        each once), with their log-priors."""
        prior: dict[str, float] = {}
        if self.method == "dictionary":
            for reading in readings:
                prior[reading] = self.unknown_word_log_prob + self.unknown_letter_log_prob * len(reading)
        for key in (key for near in nears for key in near):
            for form in self.forms[key]:  # a reading that is a word: the likelier of the two
                word = self.word_weight * self.log_prior[key] if self.method == "dictionary" else 0.0
                prior[form] = max(word, prior.get(form, -math.inf))
        return list(prior), np.array(list(prior.values()))


def _lengths(logits: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Each image's own frames: ``lengths``, or all of them."""
    return np.full(len(logits), logits.shape[1]) if lengths is None else np.asarray(lengths)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
