"""The blog post's data: word images rendered with trdg, cached by what determines their pixels.

Free of torch and Lightning, so that ``train.py`` can start rendering before those load
(``render_early``): on a fresh machine their import takes as long as the rendering.
"""

from __future__ import annotations

import inspect
import os
import threading
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ocr.data.fonts import resolve_capitals, resolve_fonts
from ocr.data.render import RenderJob, Style, render_stores, start_rendering
from ocr.data.words import Texts, frequency_weights, load_vocabulary, split_vocabulary, word_counts
from ocr.options import check_number
from ocr.text import check_alphabet

SPLITS = ("train", "test")


class SynthSets:
    """``count`` images of training words (split later into train/validation) and
    ``test_count`` images of held-out words, as ``RenderJob``s and their cache folders
    (``cache_dir/synth-<split>-<key>``): a second run with the same settings renders
    nothing. ``stream``: the training images are not rendered here but by the data
    loader, as training asks for them (``ocr.data.datasets.RenderedWords``): training
    starts at once whatever ``count``, and nothing of them is stored. ``fresh`` (with
    ``stream``): every epoch draws the training words with new looks (font, size,
    background, distortions): a run of E epochs sees E x count distinct images."""

    def __init__(
        self,
        alphabet: str,
        cache_dir: str,
        imgH: int = 32,
        max_width: int = 800,
        seed: int = 1234,
        count: int = 20000,
        test_count: int = 1000,
        words_file: str | None = None,
        max_word_length: int = 24,
        fonts: list[str] | None = None,
        capitals: bool = False,
        font_draw: str = "file",
        style: dict | None = None,
        texts: dict[str, float] | None = None,
        case: dict[str, float] | None = None,
        word_lengths: list[float] | None = None,
        word_frequencies: str | None = None,
        frequency_exponent: float = 0.5,
        render_workers: int = 0,
        stream: bool = False,
        fresh: bool = False,
        line_words: tuple[int, int] = (1, 1),
        max_line_length: int = 100,
        line_separator: str = " ",
    ):
        check_number("data.count", count, int, minimum=2)
        check_number("data.test_count", test_count, int, minimum=1)
        check_number("data.max_word_length", max_word_length, int, minimum=1)
        check_number("data.render_workers", render_workers, int, minimum=0)
        check_number("data.max_line_length", max_line_length, int, minimum=1)
        check_number("data.frequency_exponent", frequency_exponent, float, minimum=0)
        self.alphabet = check_alphabet(alphabet)
        self.cache_dir = Path(cache_dir)
        self.imgH, self.max_width, self.seed = imgH, max_width, seed
        self.count, self.test_count = count, test_count
        self.words_file, self.max_word_length = words_file, max_word_length
        self.fonts, self.capitals, self.font_draw = fonts, bool(capitals), font_draw
        self.style = Style(**(style or {}))
        self.texts, self.case, self.word_lengths = texts, case, word_lengths
        self.word_frequencies, self.frequency_exponent = word_frequencies, frequency_exponent
        self.render_workers, self.stream, self.fresh = render_workers, bool(stream), bool(fresh)
        if self.fresh and not self.stream:
            raise ValueError("data.fresh=true draws new looks as the loader renders: it needs data.stream=true")
        self.line_words, self.max_line_length = tuple(line_words), max_line_length
        if not isinstance(line_separator, str):
            raise ValueError(f"data.line_separator must be a string ('' for none), got {line_separator!r}")
        self.line_separator = line_separator
        self._jobs: dict[str, RenderJob] | None = None
        self.rendering: threading.Thread | None = None

    @classmethod
    def options(cls, config: dict) -> dict:
        """The entries of ``config`` (a data config, say) that are arguments of this class."""
        names = inspect.signature(cls).parameters
        return {k: v for k, v in config.items() if k in names}

    def jobs(self) -> dict[str, RenderJob]:
        """The two rendered sets, ``train`` and ``test``."""
        if self._jobs is None:
            vocabulary = load_vocabulary(self.words_file, self.alphabet, self.max_word_length)
            held_out = min(self.test_count, len(vocabulary) // 5)
            if held_out == 0:
                raise ValueError(
                    f"data.words_file={self.words_file}: {len(vocabulary)} words the alphabet can spell; the test "
                    "images' words are a fifth of them, held out of training, so it needs at least 5"
                )
            train_words, test_words = split_vocabulary(vocabulary, held_out, self.seed)
            fonts = resolve_fonts(self.fonts, self.alphabet, str(self.cache_dir))
            capitals = resolve_capitals(self.fonts, self.alphabet, str(self.cache_dir)) if self.capitals else ()
            common = dict(fonts=fonts, capitals=capitals, font_draw=self.font_draw, style=self.style)
            common.update(imgH=self.imgH, max_width=self.max_width, atlas_dir=str(self.cache_dir / "atlases"))
            self._jobs = {
                "train": RenderJob(self.draw(train_words, self.count, self.seed), seed=self.seed, **common),
                "test": RenderJob(self.draw(test_words, self.test_count, self.seed + 1), seed=self.seed + 1, **common),
            }
        return self._jobs

    def draw(self, words: list[str], count: int, seed: int) -> Texts:
        """The texts of ``count`` images, drawn as they are rendered (``Texts``): words as
        they are (the blog post), or a ``texts`` mix; with ``line_words`` above one, lines
        of them joined by ``line_separator``."""
        if self.line_words != (1, 1) and not set(self.line_separator) <= set(self.alphabet):
            raise ValueError(
                f"data.line_words joins words by data.line_separator={self.line_separator!r}: model.alphabet "
                "must hold it (the space, say), or data.line_separator='' for a script written without spaces"
            )
        return Texts(
            words,
            count,
            seed,
            self.word_lengths,
            self.texts,
            self.case,
            self.alphabet,
            self.line_words,
            self.max_line_length,
            self.line_separator,
            None if self.word_counts is None else frequency_weights(words, self.word_counts, self.frequency_exponent),
        )

    @cached_property
    def word_counts(self) -> dict[str, float] | None:
        """``data.word_frequencies``' counts, read once for the training and the test words."""
        return word_counts(self.word_frequencies, self.alphabet) if self.word_frequencies else None

    def folder(self, split: str) -> Path:
        return self.cache_dir / f"synth-{split}-{self.jobs()[split].key()}"

    def stored(self, splits: tuple[str, ...]) -> tuple[str, ...]:
        """Those of ``splits`` rendered into stores (not the training set when streamed)."""
        return tuple(split for split in splits if not (self.stream and split == "train"))

    def _sets(self, splits: tuple[str, ...]) -> list[tuple[RenderJob, Path]]:
        return [(self.jobs()[split], self.folder(split)) for split in self.stored(splits)]

    def render(self, splits: tuple[str, ...] = SPLITS) -> int:
        """Render the stored sets not in the cache yet, together; returns how many images
        were rendered."""
        return render_stores(self._sets(splits), self.render_workers, desc=f"render {'+'.join(self.stored(splits))}")

    def render_in_background(self, splits: tuple[str, ...] = SPLITS) -> threading.Thread:
        """Start rendering in a thread, also kept as ``rendering``; ``render`` waits for it."""
        desc = f"render {'+'.join(self.stored(splits))}"
        self.rendering = start_rendering(self._sets(splits), self.render_workers, desc=desc)
        return self.rendering


# The data config that renders synthetic words (compared as a string: this module loads no torch).
DATAMODULE = "ocr.data.datamodule.SynthDataModule"


def render_early(cfg: DictConfig) -> SynthSets | None:
    """Start rendering the synthetic sets of a training config in a background thread and
    return them, so that they render while torch and Lightning load; hand them to
    ``train(cfg, synth_sets=...)``, whose data module's ``prepare_data`` waits for them (the
    stores' locks) and renders whatever this did not finish. None where there is nothing
    to start: other data, a fine-tuning run (its alphabet comes from a checkpoint, later)
    or a DDP rank other than the first of its node."""
    if cfg.data.get("_target_") != DATAMODULE or cfg.get("init_from") or int(os.environ.get("LOCAL_RANK", 0)):
        return None
    sets = SynthSets(**SynthSets.options(OmegaConf.to_container(cfg.data, resolve=True)))
    sets.render_in_background()
    return sets
