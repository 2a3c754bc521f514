"""The seed's data: word images rendered with trdg, cached by what determines their pixels.

Free of torch and Lightning, so that ``train.py`` can start rendering before those load
(``render_early``): on a fresh machine their import takes as long as the rendering.
"""

from __future__ import annotations

import inspect
import os
import threading
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ocr.data.fonts import resolve_fonts
from ocr.data.render import RenderJob, Style, render_stores, start_rendering
from ocr.data.words import draw_words, load_vocabulary, mixed_texts, split_vocabulary
from ocr.text import check_alphabet

SPLITS = ("train", "test")


class SynthSets:
    """``count`` images of training words (split later into train/validation) and
    ``test_count`` images of held-out words, as ``RenderJob``s and their cache folders
    (``cache_dir/synth-<split>-<key>``): a second run with the same settings renders
    nothing."""

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
        style: dict | None = None,
        texts: dict[str, float] | None = None,
        case: dict[str, float] | None = None,
        word_lengths: list[float] | None = None,
        render_workers: int = 0,
    ):
        if count < 2 or test_count < 1:
            raise ValueError(f"data.count must be >= 2 and data.test_count >= 1, got {count} and {test_count}")
        self.alphabet = check_alphabet(alphabet)
        self.cache_dir = Path(cache_dir)
        self.imgH, self.max_width, self.seed = imgH, max_width, seed
        self.count, self.test_count = count, test_count
        self.words_file, self.max_word_length = words_file, max_word_length
        self.fonts = fonts
        self.style = Style(**(style or {}))
        self.texts, self.case, self.word_lengths = texts, case, word_lengths
        self.render_workers = render_workers
        self._jobs: dict[str, RenderJob] | None = None

    @classmethod
    def shared(cls, **arguments) -> SynthSets:
        """``SynthSets(**arguments)``, or the sets ``render_early`` started if they have the
        same arguments: their word lists are then drawn once per run, not twice (shuffling
        a dictionary of ~100,000 words takes ~0.4 s on a CPU core)."""
        global _early
        early, _early = _early, None
        if early is not None and early[0] == _bound(arguments):
            return early[1]
        return cls(**arguments)

    @classmethod
    def options(cls, config: dict) -> dict:
        """The entries of ``config`` (a data config, say) that are arguments of this class."""
        names = inspect.signature(cls).parameters
        return {k: v for k, v in config.items() if k in names}

    def jobs(self) -> dict[str, RenderJob]:
        """The two rendered sets, ``train`` and ``test``."""
        if self._jobs is None:
            vocabulary = load_vocabulary(self.words_file, self.alphabet, self.max_word_length)
            train_words, test_words = split_vocabulary(
                vocabulary, min(self.test_count, len(vocabulary) // 5), self.seed
            )
            fonts = resolve_fonts(self.fonts, self.alphabet)
            common = dict(fonts=fonts, style=self.style, imgH=self.imgH, max_width=self.max_width)
            self._jobs = {
                "train": RenderJob(self.draw(train_words, self.count, self.seed), seed=self.seed, **common),
                "test": RenderJob(self.draw(test_words, self.test_count, self.seed + 1), seed=self.seed + 1, **common),
            }
        return self._jobs

    def draw(self, words: list[str], count: int, seed: int) -> tuple[str, ...]:
        """The texts of ``count`` images: words as they are (the seed), or a ``texts`` mix."""
        if not self.texts:
            return tuple(draw_words(words, count, seed, self.word_lengths))
        case = self.case or {"as_is": 1.0}
        return tuple(mixed_texts(words, count, seed, self.texts, case, self.alphabet, self.word_lengths))

    def folder(self, split: str) -> Path:
        return self.cache_dir / f"synth-{split}-{self.jobs()[split].key()}"

    def _sets(self, splits: tuple[str, ...]) -> list[tuple[RenderJob, Path]]:
        return [(self.jobs()[split], self.folder(split)) for split in splits]

    def render(self, splits: tuple[str, ...] = SPLITS) -> int:
        """Render the sets not in the cache yet, together; returns how many images were rendered."""
        return render_stores(self._sets(splits), self.render_workers, desc=f"render {'+'.join(splits)}")

    def render_in_background(self, splits: tuple[str, ...] = SPLITS) -> threading.Thread:
        return start_rendering(self._sets(splits), self.render_workers, desc=f"render {'+'.join(splits)}")


def _bound(arguments: dict) -> dict:
    """``arguments`` of ``SynthSets`` with the defaults of those not given."""
    bound = inspect.signature(SynthSets).bind(**arguments)
    bound.apply_defaults()
    return dict(bound.arguments)


DATAMODULE = "ocr.data.datamodule.SynthDataModule"
# The sets that render_early started, with their arguments, until the data module takes them.
_early: tuple[dict, SynthSets] | None = None


def render_early(cfg: DictConfig) -> threading.Thread | None:
    """Start rendering the synthetic sets of a training config in the background, so
    that they render while torch and Lightning load. The data module takes these sets
    over (``SynthSets.shared``); its ``prepare_data`` waits for them (the stores' locks)
    rather than starting over, and renders whatever this did not finish. Not for a
    fine-tuning run (its alphabet comes from a checkpoint, later) nor a DDP rank other
    than the first of its node."""
    global _early
    if cfg.data.get("_target_") != DATAMODULE or cfg.get("init_from") or int(os.environ.get("LOCAL_RANK", 0)):
        return None
    arguments = SynthSets.options(OmegaConf.to_container(cfg.data, resolve=True))
    sets = SynthSets(**arguments)
    thread = sets.render_in_background()
    _early = _bound(arguments), sets
    return thread
