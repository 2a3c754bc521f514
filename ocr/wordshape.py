"""How much a text looks like a word of a language: a character n-gram model of a word
list. Reading a word turned a quarter, a recogniser must tell the word from the same word
upside down, which it reads with as much confidence ("INN" as "NNI", "ROOM" as "WOOH");
the upside-down reading is seldom spelt like a word.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from ocr.decoding import NothingSpelled, read_word_list, word_key
from ocr.text import CTCCodec

START, END = "\x02", "\x03"


class WordShape:
    """A character ``order``-gram model of the words of a list (each word once, its
    letters and digits in lower case, with start and end marks), add-``smoothing``
    estimates. ``log_prob(text)``: the mean log-probability of its characters and its
    end, comparable between texts of different lengths."""

    def __init__(self, words, order: int = 5, smoothing: float = 0.1):
        self.order, self.smoothing = order, smoothing
        padded = [START * (order - 1) + word_key(word) + END for word in words]
        self.grams = Counter(w[i - order + 1 : i + 1] for w in padded for i in range(order - 1, len(w)))
        self.contexts: Counter[str] = Counter()
        for gram, count in self.grams.items():
            self.contexts[gram[:-1]] += count
        self.symbols = len({c for w in padded for c in w[order - 1 :]}) + 1  # and one unseen

    @classmethod
    def of_word_list(
        cls, source: str | Path | list[str], codec: CTCCodec, most_frequent: int = 20_000
    ) -> "WordShape | None":
        """From the ``most_frequent`` words of a word list as ``decode.lexicon`` names it
        (``english``: SymSpell's); None when the alphabet spells none of its words (another
        script). 20,000 of SymSpell's 82,765 English words told turned words apart as well
        as all of them (docs/results.md), in a fifth of the time to build (0.04 s)."""
        try:
            counts = read_word_list(source, codec)
        except NothingSpelled:
            return None
        return cls(sorted(counts, key=counts.__getitem__, reverse=True)[:most_frequent])

    def log_prob(self, text: str) -> float:
        padded = START * (self.order - 1) + word_key(text) + END
        total = 0.0
        for i in range(self.order - 1, len(padded)):
            gram = padded[i - self.order + 1 : i + 1]
            seen, context = self.grams.get(gram, 0), self.contexts.get(gram[:-1], 0)
            total += math.log((seen + self.smoothing) / (context + self.smoothing * self.symbols))
        return total / (len(padded) - self.order + 1)
