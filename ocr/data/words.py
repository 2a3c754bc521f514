"""The vocabulary to render: read a word list, keep what the alphabet can spell, split it
into training and test words that never meet, and draw the words of each image."""

from __future__ import annotations

import codecs
import hashlib
import logging
import random
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ocr.data.trdg_compat import trdg_folder
from ocr.decoding import read_word_list
from ocr.geometry import label_width, min_width
from ocr.text import CTCCodec, nfc

log = logging.getLogger(__name__)


# How many of a language's most frequent words ``wordfreq:<lang>`` takes, and in how
# few of them a character may occur before its words are left out (a class seen in a
# handful of words cannot be learnt: Greek's polytonic letters, Devanagari's digits).
WORDFREQ_WORDS = 100_000
WORDFREQ_RARE = 10


def words_path(words_file: str | Path | None) -> Path:
    """The word list a ``data.words_file`` names: a path, ``trdg:<lang>`` for one of the
    66 word lists trdg ships (``trdg:ru``, ``trdg:ar``, ...), or None for trdg's English.
    (``wordfreq:<lang>`` names no file: see ``wordfreq_words``.)"""
    if not words_file:
        return trdg_folder("dicts") / "en.txt"
    if str(words_file).startswith("trdg:"):
        language = str(words_file)[len("trdg:") :]
        path = trdg_folder("dicts") / f"{language}.txt"
        if not path.is_file():
            known = sorted(p.stem for p in trdg_folder("dicts").glob("*.txt"))
            raise FileNotFoundError(f"data.words_file: trdg has no word list {language!r} (it has {', '.join(known)})")
        return path
    return Path(words_file)


def script_of(character: str) -> str:
    """The first word of a character's Unicode name: its script for letters and marks
    (``GREEK``, ``CYRILLIC``, ``DEVANAGARI``, ``LATIN``, ...)."""
    return unicodedata.name(character, "?").split()[0]


def wordfreq_words(language: str) -> list[str]:
    """The ``WORDFREQ_WORDS`` most frequent words of ``language`` in the ``wordfreq``
    package (word lists of ~40 languages, Greek and Hindi among them), written in the
    language's main script only (the lists also hold Latin words, numbers and symbols),
    without words holding a character found in fewer than ``WORDFREQ_RARE`` words.
    wordfreq folds Greek's final sigma to σ; it is restored at the end of a word."""
    try:
        import wordfreq
    except ImportError:
        raise ImportError("data.words_file=wordfreq:... needs the wordfreq package: pip install wordfreq") from None
    if language not in wordfreq.available_languages():
        known = ", ".join(sorted(wordfreq.available_languages()))
        raise FileNotFoundError(f"data.words_file: wordfreq has no word list {language!r} (it has {known})")
    words = wordfreq.top_n_list(language, WORDFREQ_WORDS)
    main = Counter(script_of(c) for word in words for c in word).most_common(1)[0][0]
    words = [word for word in words if all(script_of(c) == main for c in word)]
    found_in = Counter(c for word in words for c in set(word))
    words = [word for word in words if all(found_in[c] >= WORDFREQ_RARE for c in word)]
    if language == "el":
        words = [word[:-1] + "ς" if word.endswith("σ") else word for word in words]
    return words


def read_words(words_file: str | Path | None) -> list[str]:
    """The lines of a word list (or ``wordfreq_words`` for ``wordfreq:<lang>``) in Unicode's
    composed form (``nfc``, as labels are read); lines that are not UTF-8 are left out and
    named in a warning (trdg's Hindi list has one), a file with no UTF-8 line is refused."""
    if str(words_file).startswith("wordfreq:"):
        return [nfc(word) for word in wordfreq_words(str(words_file)[len("wordfreq:") :])]
    path = words_path(words_file)
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)  # trdg's Chinese list starts with one
    except FileNotFoundError:
        raise FileNotFoundError(f"data.words_file: no such file {path}") from None
    try:
        return nfc(data.decode("utf-8")).splitlines()
    except UnicodeDecodeError:  # line by line: keep the others
        pass
    lines, bad = [], []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            lines.append(nfc(line.decode("utf-8")))
        except UnicodeDecodeError:
            bad.append(number)
    if bad and not lines:
        raise ValueError(f"data.words_file {path} is not UTF-8 text")
    if bad:
        lines_named = ", ".join(map(str, bad[:5]))
        log.warning("%s: %d lines are not UTF-8 and were left out (line %s)", path, len(bad), lines_named)
    return lines


def alphabet_of(words_file: str | Path | None) -> str:
    """Every character the words of ``words_file`` use (spaces aside), in code point
    order: the alphabet of a script taken from its word list rather than typed."""
    return "".join(sorted({c for line in read_words(words_file) for c in line.strip() if not c.isspace()}))


def load_vocabulary(words_file: str | Path | None, alphabet: str, max_length: int = 24) -> list[str]:
    """Distinct words of ``words_file`` (trdg's English dictionary by default) that the
    alphabet can spell, 1 to ``max_length`` characters long, sorted.

    Words with other characters are left out and counted, never altered.
    """
    lines, source = read_words(words_file), words_file or words_path(None)
    allowed = set(alphabet)
    words = {w.strip() for w in lines} - {""}
    kept = sorted(w for w in words if len(w) <= max_length and set(w) <= allowed)
    if len(kept) < len(words):
        log.info(
            "%s: kept %d of %d distinct words (the others are longer than %d or use characters outside the alphabet)",
            source,
            len(kept),
            len(words),
            max_length,
        )
    if not kept:
        raise ValueError(f"no word of {source} can be spelled with the alphabet {alphabet!r}")
    return kept


def split_vocabulary(words: list[str], test_count: int, seed: int) -> tuple[list[str], list[str]]:
    """Disjoint (train, test) word lists: ``test_count`` words are held out for testing."""
    if test_count >= len(words):
        raise ValueError(f"data.test_count={test_count} leaves no training words out of {len(words)}")
    shuffled = list(words)
    random.Random(seed).shuffle(shuffled)
    return shuffled[test_count:], shuffled[:test_count]


def word_counts(source: str, alphabet: str) -> dict[str, float]:
    """The counts of the frequency list ``source`` (a file of ``word count`` lines, or
    ``english``: see ``ocr.decoding.read_word_list``) by lower-case word, cases added up."""
    counts: dict[str, float] = {}
    cased = CTCCodec("".join(dict.fromkeys(alphabet + alphabet.lower() + alphabet.upper())))  # "The" counts for "the"
    for word, count in read_word_list(source, cased, key="data.word_frequencies").items():
        counts[word.lower()] = counts.get(word.lower(), 0.0) + count
    return counts


def frequency_weights(words: list[str], counts: dict[str, float], exponent: float) -> np.ndarray:
    """Each word's weight for drawing: its count (``word_counts``) to the power
    ``exponent``; a word the list lacks counts as its rarest word."""
    rarest = min(counts.values())
    return np.array([counts.get(word.lower(), rarest) for word in words], dtype=np.float64) ** exponent


def draw_word_indices(
    words: list[str], count: int, seed: int, lengths: list[float] | None = None, weights: np.ndarray | None = None
) -> np.ndarray:
    """Indices into ``words`` of the words of ``count`` images: all distinct while the
    vocabulary lasts, then each word again in a fresh order (so that no word appears
    twice more than another), or, with ``weights`` (one per word), each drawn with a
    probability in proportion to its weight. Image ``i``'s word depends on ``seed`` and
    ``i`` alone: the first images of a larger set are those of a smaller one.

    ``lengths``: weights of word lengths 1, 2, 3, ... (a dictionary holds mostly long
    words, running text and signs mostly short ones). Each image draws a length by these
    weights (among the lengths the vocabulary has), then a word of that length.
    """
    if not lengths:
        return _drawn(len(words), count, np.random.default_rng([seed, 0]), weights)
    word_lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    sizes = [n for n in range(1, len(lengths) + 1) if lengths[n - 1] > 0 and (word_lengths == n).any()]
    if not sizes:
        raise ValueError(f"data.word_lengths {lengths} gives no weight to a length the vocabulary has")
    by_length = np.array([lengths[n - 1] for n in sizes], dtype=np.float64)
    picks = np.random.default_rng([seed, 1]).choice(len(sizes), size=count, p=by_length / by_length.sum())
    drawn = np.empty(count, dtype=np.int32)
    for k, n in enumerate(sizes):
        images, of_length = np.flatnonzero(picks == k), np.flatnonzero(word_lengths == n)
        own = None if weights is None else weights[of_length]
        drawn[images] = of_length[_drawn(len(of_length), len(images), np.random.default_rng([seed, 2, n]), own)]
    return drawn


def _drawn(n: int, count: int, rng: np.random.Generator, weights: np.ndarray | None) -> np.ndarray:
    """``count`` indices of ``range(n)``: cycled (each alike), or drawn by ``weights``."""
    if weights is None:
        return _cycled(n, count, rng)
    return rng.choice(n, size=count, p=weights / weights.sum()).astype(np.int32)


def _cycled(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices of ``range(n)``: a fresh permutation of it, again and again."""
    rounds = [rng.permutation(n).astype(np.int32) for _ in range(-(-count // n))]
    return np.concatenate(rounds)[:count] if rounds else np.zeros(0, dtype=np.int32)


# Punctuation that clings to words on signs and in print, with the side it sits on.
_BEFORE, _AFTER, _AROUND = "\"'(#$@", ".,:;!?'\")%", ("()", '""', "''", "[]")


def _cased(word: str, case: dict[str, float], rng: random.Random) -> str:
    style = rng.choices(list(case), weights=list(case.values()))[0]
    return {"lower": word.lower(), "upper": word.upper(), "title": word[:1].upper() + word[1:].lower(), "as_is": word}[
        style
    ]


def _number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return str(rng.randint(0, 10 ** rng.randint(1, 6)))
    if kind < 0.55:
        return str(rng.randint(1900, 2030))  # years
    if kind < 0.75:
        return f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"  # prices, measures
    if kind < 0.9:
        return f"{rng.randint(1, 999)}{rng.choice(['%', 'km', 'kg', 'm', 'th', 'st'])}"
    return "-".join(str(rng.randint(10, 9999)) for _ in range(rng.randint(2, 3)))  # phone-like


def _alphanumeric(rng: random.Random) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    kind = rng.random()
    if kind < 0.4:
        return "".join(rng.choice(letters) for _ in range(rng.randint(1, 3))) + str(rng.randint(1, 999))
    if kind < 0.7:
        return str(rng.randint(1, 99)) + "".join(
            rng.choice(letters + letters.lower()) for _ in range(rng.randint(1, 3))
        )
    return "".join(rng.choice(letters + "0123456789") for _ in range(rng.randint(3, 8)))


KINDS = ("words", "numbers", "alphanumeric", "punctuated")


def mixed_text(word: str, rng: random.Random, mix: dict[str, float], case: dict[str, float], allowed: set) -> str:
    """A text drawn as ``mix`` says: ``word`` (in a case style drawn from ``case``), a
    number, an alphanumeric code or the word punctuated; one the alphabet (``allowed``)
    cannot spell is drawn again, and after many tries the word as it is stands."""
    kinds, weights = list(mix), list(mix.values())
    for _ in range(100):
        kind, cased = rng.choices(kinds, weights=weights)[0], _cased(word, case, rng)
        if kind == "numbers":
            text = _number(rng)
        elif kind == "alphanumeric":
            text = _alphanumeric(rng)
        elif kind == "punctuated":
            side = rng.random()
            if side < 0.5:
                text = cased + rng.choice(_AFTER)
            elif side < 0.7:
                text = rng.choice(_BEFORE) + cased
            else:
                pair = rng.choice(_AROUND)
                text = pair[0] + cased + pair[1]
        else:
            text = cased
        if set(text) <= allowed:
            return text
    return word


class Texts(Sequence):
    """The texts of ``count`` images, each drawn when it is asked for: text ``i`` depends
    on ``seed`` and ``i`` alone, so a set of any size costs next to nothing until its
    images are rendered (and the first texts of a large set are those of a small one).

    The words are drawn up front as indices (:func:`draw_word_indices`, 4 bytes an
    image; ``weights``, one per word, draw common words more often); ``mix`` turns image
    ``i``'s word into another text (:func:`mixed_text`, from ``case`` and the
    ``alphabet``); ``line_words`` (min, max) above one joins that many words, drawn for
    each image, by ``separator`` (a space; nothing for scripts written without spaces),
    cut back to whole words within ``max_line_length`` characters (one word at least).
    """

    def __init__(
        self,
        words: list[str],
        count: int,
        seed: int,
        lengths: list[float] | None = None,
        mix: dict[str, float] | None = None,
        case: dict[str, float] | None = None,
        alphabet: str = "",
        line_words: tuple[int, int] = (1, 1),
        max_line_length: int = 100,
        separator: str = " ",
        weights: np.ndarray | None = None,
    ):
        low, high = line_words
        if not 1 <= low <= high <= 100:
            raise ValueError(f"data.line_words must be [min, max] with 1 <= min <= max <= 100, got {list(line_words)}")
        unknown = set(mix or {}) - set(KINDS)
        if unknown:
            raise ValueError(f"data.texts: unknown kinds {sorted(unknown)}")
        self.words, self.count, self.seed, self.lengths = words, count, seed, lengths
        self.mix, self.case, self.allowed = mix, case or {"as_is": 1.0}, set(alphabet)
        self.low, self.slots, self.max_line_length = low, high, max_line_length
        self.separator, self.weights = separator, weights
        self.indices = draw_word_indices(words, count * high, seed, lengths, weights)  # words of image i: i * high, ...
        if high > 1:  # how many of its slots each line takes
            self.line_words = np.random.default_rng([seed, 3]).integers(low, high + 1, size=count, dtype=np.int8)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> str:
        if not -self.count <= i < self.count:
            raise IndexError(f"text {i} of {self.count}")
        i = int(i) % self.count  # a Python int: seeds are mixed in below past NumPy's int32 range
        first = i * self.slots
        if self.slots == 1:
            return self._text(first)
        parts = [self._text(first + k) for k in range(self.line_words[i])]
        while len(parts) > 1 and len(self.separator.join(parts)) > self.max_line_length:
            parts.pop()
        return self.separator.join(parts)

    def _text(self, slot: int) -> str:
        word = self.words[self.indices[slot]]
        if not self.mix:
            return word
        return mixed_text(word, random.Random(self.seed * 2_000_003 + slot), self.mix, self.case, self.allowed)

    def widths(self) -> np.ndarray:
        """Every image's width for batching, without drawing the texts: the width its
        words' frames need (``ocr.geometry.label_width``), exact for words as they are,
        the word's for a text ``mix`` made of it (a number or code drawn instead of a
        word is batched with the word)."""
        if self.slots == 1:
            return np.fromiter(map(label_width, self.words), dtype=np.int32, count=len(self.words))[self.indices]
        lengths = np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))
        taken = np.arange(self.slots) < self.line_words[:, None]  # (count, slots)
        joints = (self.line_words - 1) * len(self.separator)
        chars = (lengths[self.indices].reshape(self.count, self.slots) * taken).sum(1) + joints
        return min_width(np.minimum(chars, self.max_line_length)).astype(np.int32)

    def recipe(self) -> dict:
        """What determines the texts, for a cache key (the words by a digest)."""
        digest = hashlib.sha256("\n".join(self.words).encode()).hexdigest()
        return {
            "words": digest,
            "count": self.count,
            "seed": self.seed,
            "lengths": self.lengths,
            "mix": self.mix,
            "case": self.case if self.mix else None,
            "alphabet": "".join(sorted(self.allowed)) if self.mix else None,
            "line_words": [self.low, self.slots] if self.slots > 1 else None,
            "max_line_length": self.max_line_length if self.slots > 1 else None,
            # The default space adds no entry: stores rendered before the option keep their keys.
            **({"separator": self.separator} if self.slots > 1 and self.separator != " " else {}),
            **({"weights": hashlib.sha256(self.weights.tobytes()).hexdigest()} if self.weights is not None else {}),
        }
