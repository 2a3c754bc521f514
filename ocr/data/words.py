"""The vocabulary to render: read a word list, keep what the alphabet can spell, split it
into training and test words that never meet, and draw the words of each image."""

from __future__ import annotations

import codecs
import itertools
import logging
import random
import unicodedata
from collections import Counter
from pathlib import Path

from ocr.data.trdg_compat import trdg_folder

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
    """The lines of a word list (or ``wordfreq_words`` for ``wordfreq:<lang>``); lines
    that are not UTF-8 are left out and named in a warning (trdg's Hindi list has one), a
    file with no UTF-8 line is refused."""
    if str(words_file).startswith("wordfreq:"):
        return wordfreq_words(str(words_file)[len("wordfreq:") :])
    path = words_path(words_file)
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)  # trdg's Chinese list starts with one
    except FileNotFoundError:
        raise FileNotFoundError(f"data.words_file: no such file {path}") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:  # line by line: keep the others
        pass
    lines, bad = [], []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            lines.append(line.decode("utf-8"))
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


def draw_words(words: list[str], count: int, seed: int, lengths: list[float] | None = None) -> list[str]:
    """``count`` words for ``count`` images: all distinct while the vocabulary lasts, then
    each word again in a fresh order (so that no word appears twice more than another).

    ``lengths``: weights of word lengths 1, 2, 3, ... (a dictionary holds mostly long
    words, running text and signs mostly short ones). Each image draws a length by these
    weights (among the lengths the vocabulary has), then the next word of that length.
    """
    rng = random.Random(seed)
    if lengths:
        by_length: dict[int, list[str]] = {}
        for word in words:
            by_length.setdefault(len(word), []).append(word)
        sizes = [n for n in range(1, len(lengths) + 1) if n in by_length and lengths[n - 1] > 0]
        if not sizes:
            raise ValueError(f"data.word_lengths {lengths} gives no weight to a length the vocabulary has")
        picks = rng.choices(sizes, weights=[lengths[n - 1] for n in sizes], k=count)
        streams = {n: _cycle(by_length[n], rng) for n in sizes}
        return [next(streams[n]) for n in picks]
    return list(itertools.islice(_cycle(words, rng), count))


def _cycle(words: list[str], rng: random.Random):
    """The words in a fresh random order, again and again."""
    while True:
        batch = list(words)
        rng.shuffle(batch)
        yield from batch


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


def mixed_texts(
    words: list[str],
    count: int,
    seed: int,
    mix: dict[str, float],
    case: dict[str, float],
    alphabet: str,
    lengths: list[float] | None = None,
) -> list[str]:
    """``count`` texts drawn as ``mix`` says: ``words`` (in a case style drawn from ``case``),
    ``numbers``, ``alphanumeric`` codes and ``punctuated`` words; those the alphabet
    cannot spell are drawn again. ``lengths``: as in :func:`draw_words`."""
    unknown = set(mix) - {"words", "numbers", "alphanumeric", "punctuated"}
    if unknown:
        raise ValueError(f"data.texts: unknown kinds {sorted(unknown)}")
    rng = random.Random(seed)
    pool = draw_words(words, count, seed, lengths)
    allowed, texts = set(alphabet), []
    kinds, weights = list(mix), list(mix.values())
    while len(texts) < count:
        kind = rng.choices(kinds, weights=weights)[0]
        word = _cased(pool[len(texts)], case, rng)
        if kind == "numbers":
            text = _number(rng)
        elif kind == "alphanumeric":
            text = _alphanumeric(rng)
        elif kind == "punctuated":
            side = rng.random()
            if side < 0.5:
                text = word + rng.choice(_AFTER)
            elif side < 0.7:
                text = rng.choice(_BEFORE) + word
            else:
                pair = rng.choice(_AROUND)
                text = pair[0] + word + pair[1]
        else:
            text = word
        if set(text) <= allowed:
            texts.append(text)
    return texts


def join_lines(texts: list[str], count: int, seed: int, words: tuple[int, int], max_length: int) -> list[str]:
    """``count`` lines of ``texts`` taken in order, each of a number of them drawn from
    ``words`` (min, max) joined by spaces, and cut back to whole texts within
    ``max_length`` characters (one text at least). ``texts`` must hold ``count * max``."""
    low, high = words
    if not 1 <= low <= high:
        raise ValueError(f"data.line_words must be [min, max] with 1 <= min <= max, got {list(words)}")
    rng, lines, taken = random.Random(seed), [], 0
    for _ in range(count):
        parts = texts[taken : taken + rng.randint(low, high)]
        taken += len(parts)
        while len(parts) > 1 and len(" ".join(parts)) > max_length:
            parts.pop()
        lines.append(" ".join(parts))
    return lines
