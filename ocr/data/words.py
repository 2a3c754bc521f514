"""The vocabulary to render: read a word list, keep what the alphabet can spell, split it
into training and test words that never meet, and draw the words of each image."""
from __future__ import annotations

import logging
import random
from pathlib import Path

log = logging.getLogger(__name__)


def trdg_dictionary(lang: str = "en") -> Path:
    import trdg

    return Path(trdg.__file__).parent / "dicts" / f"{lang}.txt"


def load_vocabulary(words_file: str | Path | None, alphabet: str, max_length: int = 24) -> list[str]:
    """Distinct words of ``words_file`` (trdg's English dictionary by default) that the
    alphabet can spell, 1 to ``max_length`` characters long, sorted.

    Words with other characters are left out and counted, never altered.
    """
    path = Path(words_file) if words_file else trdg_dictionary()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"data.words_file: no such file {path}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"data.words_file {path} is not UTF-8 text ({err})") from None
    allowed = set(alphabet)
    words = {w.strip() for w in lines} - {""}
    kept = sorted(w for w in words if len(w) <= max_length and set(w) <= allowed)
    if len(kept) < len(words):
        log.info("%s: kept %d of %d distinct words (the others are longer than %d or use "
                 "characters outside the alphabet)", path, len(kept), len(words), max_length)
    if not kept:
        raise ValueError(f"no word of {path} can be spelled with the alphabet {alphabet!r}")
    return kept


def split_vocabulary(words: list[str], test_count: int, seed: int) -> tuple[list[str], list[str]]:
    """Disjoint (train, test) word lists: ``test_count`` words are held out for testing."""
    if test_count >= len(words):
        raise ValueError(f"data.test_count={test_count} leaves no training words out of {len(words)}")
    shuffled = list(words)
    random.Random(seed).shuffle(shuffled)
    return shuffled[test_count:], shuffled[:test_count]


def draw_words(words: list[str], count: int, seed: int) -> list[str]:
    """``count`` words for ``count`` images: all distinct while the vocabulary lasts, then
    each word again in a fresh order (so that no word appears twice more than another)."""
    rng = random.Random(seed)
    drawn: list[str] = []
    while len(drawn) < count:
        batch = list(words)
        rng.shuffle(batch)
        drawn.extend(batch[: count - len(drawn)])
    return drawn
