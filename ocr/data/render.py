"""Rendering word images with trdg, in parallel, deterministically, into an image store.

Each image ``i`` of a set is rendered from its own seed (the set's seed and ``i``), so
the same settings give the same pixels whatever the number of processes, and an
interrupted set can be completed shard by shard.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import logging
import multiprocessing
import os
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ocr.data import draw, layers, store
from ocr.data.fonts import font_families
from ocr.data.images import pad_to_width, to_model_input
from ocr.data.trdg_compat import fake_text_generator, trdg_folder
from ocr.data.words import Texts
from ocr.files import cache_key
from ocr.geometry import label_width

log = logging.getLogger(__name__)

# trdg's codes for its backgrounds and distortions.
BACKGROUNDS = {"noise": 0, "plain": 1, "quasicrystal": 2, "image": 3}
DISTORTIONS = {"none": 0, "sine": 1, "cosine": 2, "random": 3}
RENDERERS = ("trdg", "layered", "pillow")
# Raised when the composed looks (ocr/data/layers.py, draw.py) change their pixels, so that
# stores rendered before are not taken for the new ones.
LOOK_VERSION = 5


# The style's fields that are probabilities (of turn and spacing, the first value).
PROBABILITIES = "invert jpeg crop tight clip bold outline shadow neighbours lines turn spacing lighting colour".split()
# Looks that not every composing renderer draws, and those that do.
DRAWN_BY = {"turn": ("pillow",), "spacing": ("pillow",), "colour": ("layered", "pillow")}
# Looks added after sets were first cached: left out of a set's key while at their
# defaults, so that the keys of sets rendered before them stay.
LATER_LOOKS = ("colour", "tight_margin", "clip")


@dataclass(frozen=True)
class Style:
    """How words look. Fields that are lists are drawn from uniformly for each image.

    The defaults are trdg's own (its command line without options), which the blog post used.
    ``renderer: layered`` lets trdg draw only the text and composes the rest itself
    (see ``ocr.data.layers``); ``renderer: pillow`` draws the text too, without trdg
    (``ocr.data.draw``: faster, and it shapes any script). The fields after ``renderer``
    apply to these two alone, and so does the ``photo`` background: crops of the
    photographs in the folders ``photos``, in grey levels as every input is (or composed
    in colour first, with probability ``colour``).
    """

    height: int | tuple[int, int] = 32  # px trdg renders at (or a range), before resizing to imgH
    skew: float = 0.0  # the angle is drawn from [-skew, skew] degrees
    blur: float = 0.0  # the Gaussian blur radius is drawn from [0, blur]
    backgrounds: tuple[str, ...] = ("noise",)
    distortions: tuple[str, ...] = ("none",)
    text_colors: tuple[str, ...] = ("#282828",)  # "#rrggbb" or a range "#000000,#888888"
    margins: tuple[int, int, int, int] = (5, 5, 5, 5)  # top, left, bottom, right
    renderer: str = "trdg"
    contrast: tuple[float, float] = (0.3, 1.0)  # grey-level gap between text and background
    invert: float = 0.0  # probability of light text on a dark background
    perspective: float = 0.0  # corners move by up to this fraction of the size
    noise: float = 0.0  # Gaussian noise, standard deviation up to this fraction of 255
    jpeg: float = 0.0  # probability of JPEG artefacts (quality 15-85)
    crop: float = 0.0  # probability of cutting into or widening the margins
    tight: float = 0.0  # probability of cropping to the ink, as word crops of photos are
    tight_margin: float = 0.12  # the crop to the ink leaves up to this x the text's height on each side
    clip: float = 0.0  # probability, per side (left, right), that the crop to the ink cuts into the end letter
    width_scale: tuple[float, float] = (1.0, 1.0)  # letters condensed or widened by a factor drawn from this
    bold: float = 0.0  # probability of thickening the strokes
    outline: float = 0.0  # probability of an outline around the letters, in a grey of its own
    shadow: float = 0.0  # probability of a drop shadow or extrusion (hard or soft)
    neighbours: float = 0.0  # probability, per side, of bits of neighbouring letters
    lines: float = 0.0  # probability, per side, of the edge of a text line above or below
    turn: tuple[float, float] = (0.0, 0.0)  # probability and largest angle of a steeper turn than skew (pillow)
    spacing: tuple[float, float] = (0.0, 0.0)  # probability and largest space between letters, x the size (pillow)
    lighting: float = 0.0  # probability of uneven light across the image
    colour: float = 0.0  # probability of text and background in colour, made grey as inputs are
    photos: tuple[str, ...] = ()  # folders of photographs for the "photo" background

    def __post_init__(self) -> None:
        if self.renderer not in RENDERERS:
            raise ValueError(f"style.renderer must be one of {', '.join(RENDERERS)}, got {self.renderer!r}")
        backgrounds = [*BACKGROUNDS, "photo"] if self.renderer != "trdg" else list(BACKGROUNDS)
        for name, allowed in (("backgrounds", backgrounds), ("distortions", DISTORTIONS)):
            values = tuple(getattr(self, name))
            bad = [v for v in values if v not in allowed]
            if not values or bad:
                raise ValueError(f"style.{name} must list some of {sorted(allowed)}, got {list(values)}")
            object.__setattr__(self, name, values)
        object.__setattr__(self, "photos", tuple(str(p) for p in self.photos or ()))
        if "photo" in self.backgrounds:
            if not self.photos:
                raise ValueError(
                    "style.backgrounds has photo: name folders of photographs, "
                    "e.g. 'data.style.photos=[path/to/photos]'"
                )
            layers.photo_files(self.photos)  # a missing or empty folder is said now
        height = (self.height, self.height) if isinstance(self.height, int) else tuple(self.height)
        object.__setattr__(self, "height", height)
        for name in PROBABILITIES:
            if not 0 <= self.probability(name) <= 1:
                raise ValueError(f"style.{name}: a probability lies in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.tight_margin <= 1:
            raise ValueError(f"style.tight_margin: a fraction of the text's height in [0, 1], got {self.tight_margin}")
        for name in self.undrawn_by(self.renderer):
            renderers = DRAWN_BY[name]
            drawers = f"the {' and '.join(renderers)} renderer{'s' if len(renderers) > 1 else ''}"
            raise ValueError(f"style.{name} is drawn by {drawers}: set renderer: pillow, not {self.renderer}")
        for name in ("text_colors", "margins", "contrast", "width_scale", "turn", "spacing"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def probability(self, name: str) -> float:
        """How often the look ``name`` is drawn (of ``turn`` and ``spacing``, the first value)."""
        value = getattr(self, name)
        return value[0] if name in ("turn", "spacing") else value

    def undrawn_by(self, renderer: str) -> list[str]:
        """The looks of this style that ``renderer`` does not draw."""
        return [name for name, renderers in DRAWN_BY.items() if self.probability(name) and renderer not in renderers]


FONT_DRAWS = ("file", "family")


@dataclass(frozen=True)
class RenderJob:
    """Everything that determines a rendered set's pixels (its cache key is made of it)."""

    words: Sequence[str]  # a tuple, or ``ocr.data.words.Texts`` drawn as they are rendered
    fonts: tuple[str, ...]
    style: Style
    seed: int
    imgH: int
    max_width: int
    extra: dict = field(default_factory=dict)  # anything else that names the set
    capitals: tuple[str, ...] = ()  # fonts that draw lower case as capitals: for texts without it
    font_draw: str = "file"  # file: each font file equally likely; family: each family, then a file of it
    # Where the pillow renderer keeps each font's letters once rasterised, for every process
    # and later runs (``ocr.data.draw.atlas``; None: per process). Not part of the look.
    atlas_dir: str | None = None

    def __post_init__(self) -> None:
        if self.font_draw not in FONT_DRAWS:
            raise ValueError(f"data.font_draw is {self.font_draw!r}: one of {', '.join(FONT_DRAWS)}")

    @functools.cached_property
    def letters(self) -> str:
        """The characters the texts are made of: the alphabet they are drawn from, or
        those of the words given."""
        chars = self.words.allowed if isinstance(self.words, Texts) and self.words.allowed else set("".join(self.words))
        return "".join(sorted(chars))

    @functools.cached_property
    def _choices(self) -> dict[bool, tuple]:
        """What ``font`` draws from, for words with lower case (False) and without (True):
        font files, or families of them (worked out once, not per word)."""
        choices = {False: self.fonts, True: self.fonts + self.capitals}
        if self.font_draw == "family":
            choices = {k: font_families(fonts) for k, fonts in choices.items()}
        return choices

    def font(self, word: str, rng: random.Random) -> str:
        """The font to draw ``word`` in: one of ``fonts``, or of ``capitals`` too for a word
        without lower-case letters; with ``font_draw: family``, a family first."""
        choice = rng.choice(self._choices[word == word.upper()])
        return rng.choice(choice) if self.font_draw == "family" else choice

    def key(self) -> str:
        fonts = [(Path(f).name, os.path.getsize(f)) for f in self.fonts]
        words = self.words.recipe() if isinstance(self.words, Texts) else list(self.words)
        style = {k: v for k, v in asdict(self.style).items() if k not in LATER_LOOKS or v != getattr(Style, k)}
        parts = [words, fonts, style, self.seed, self.imgH, self.max_width, self.extra]
        if self.capitals:  # (absent otherwise: the keys of sets rendered before stay)
            parts.append([(Path(f).name, os.path.getsize(f)) for f in self.capitals])
        if self.font_draw != "file":
            parts.append(self.font_draw)
        if self.style.renderer != "trdg":
            parts.append(LOOK_VERSION)
        return cache_key(parts)


def render_word(job: RenderJob, i: int, attempts: int = 10) -> np.ndarray | None:
    """Image ``i`` of ``job`` as uint8 grayscale ``imgH`` high, or None if trdg refuses it.
    Indices past the job's words draw them again with other looks: image ``i`` shows
    word ``i % len(job.words)`` (``data.fresh``).

    trdg draws its randomness from the global ``random`` module, NumPy and OpenCV, so
    all three are seeded per image. trdg rejects a render whose text and background
    are too alike; another seed is tried then.
    """
    import cv2

    if job.style.renderer == "pillow":
        return _drawn(job, i)
    word, style = job.words[i % len(job.words)], job.style
    generator = fake_text_generator()
    layered = style.renderer == "layered"
    for attempt in range(attempts):
        seed = (job.seed * 1_000_003 + i) * 31 + attempt
        random.seed(seed)
        np.random.seed(seed % 2**32)
        cv2.setRNGSeed(seed % 2**31)
        rng = random.Random(seed)
        with contextlib.redirect_stdout(io.StringIO()):
            image = generator.generate(
                index=i,
                text=word,
                font=job.font(word, rng),
                out_dir=None,
                size=rng.randint(*style.height),
                extension=None,
                skewing_angle=int(round(style.skew)),
                random_skew=True,
                blur=0 if layered else style.blur,
                random_blur=True,
                background_type=BACKGROUNDS["plain" if layered else rng.choice(style.backgrounds)],
                distorsion_type=DISTORTIONS[rng.choice(style.distortions)],
                distorsion_orientation=0,
                is_handwritten=False,
                name_format=0,
                width=-1,
                alignment=1,
                text_color="#000000" if layered else rng.choice(style.text_colors),
                orientation=0,
                space_width=1.0,
                character_spacing=0,
                margins=style.margins,
                fit=False,
                output_mask=0,
                word_split=False,
                image_dir=str(trdg_folder("images")),
            )
        if image is not None:
            if layered:
                gray = layers.compose(1 - np.asarray(image.convert("L"), np.float32) / 255, style, _photos(), rng)
            else:
                gray = np.asarray(image.convert("L"))
            return _model_input(gray, job, word)
    return None


def _drawn(job: RenderJob, i: int) -> np.ndarray | None:
    """Image ``i`` drawn by the ``pillow`` renderer (None for a text with nothing to draw)."""
    word, style = job.words[i % len(job.words)], job.style
    rng = random.Random((job.seed * 1_000_003 + i) * 31)
    size = rng.randint(*style.height)
    coverage = draw.draw_word(word, job.font(word, rng), size, style, rng, job.atlas_dir, job.letters)
    if coverage.max(initial=0) == 0:
        return None
    return _model_input(layers.compose(coverage, style, _photos(), rng, tilted=True), job, word)


def _model_input(gray: np.ndarray, job: RenderJob, word: str) -> np.ndarray:
    return pad_to_width(to_model_input(gray, job.imgH, job.max_width), label_width(word))


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[Path, ...]:
    return tuple(sorted(trdg_folder("images").glob("*.jpg")))


def read_photos(style: Style) -> None:
    """Read the photographs ``style`` lays words on (``layers.read_photos``), in the process
    that forks the workers rendering it, so that they share one copy."""
    if style.renderer == "trdg":  # trdg reads its own
        return
    photos = _photos() if "image" in style.backgrounds else ()
    if "photo" in style.backgrounds:
        photos += layers.photo_files(style.photos)
    layers.read_photos(photos, ("L", "RGB") if style.colour else ("L",))


# The sets being rendered, set once per worker process rather than pickled per shard.
_SETS: list[tuple[RenderJob, Path]] = []


def _set_sets(sets: list[tuple[RenderJob, Path]]) -> None:
    global _SETS
    _SETS = sets


def start_worker() -> None:
    """What a forked worker process that renders or reads images does first: its garbage
    collector leaves alone the objects it inherited. Scanning them would copy every page
    that holds one (about 100 MB a worker with torch loaded), where they stay shared with
    the parent and the other workers. (OpenCV's threads are left as they are: setting
    their number in a child forked after the parent used them hangs.)"""
    gc.freeze()


def _start_pool_worker(sets: list[tuple[RenderJob, Path]]) -> None:
    start_worker()
    _set_sets(sets)


def _render_shard(task: tuple[int, int, int, int]) -> int:
    which, index, start, stop = task
    job, folder = _SETS[which]
    images, labels = [], []
    for i in range(start, stop):
        image = render_word(job, i)
        if image is not None:
            images.append(image)
            labels.append(job.words[i])
    store.write_shard(folder, index, images, labels, span=(start, stop))
    return stop - start


def shard_size_for(count: int) -> int:
    """Images per shard: about 64 shards for a small set, so that every core of a large
    machine has work to the end, and 1,000 for a large one (few files). It depends on
    ``count`` alone, so an interrupted set resumes shard by shard on any machine."""
    return min(1000, max(100, -(-count // 64)))


def render_store(
    job: RenderJob, folder: Path, workers: int = 0, shard_size: int | None = None, desc: str = "render"
) -> int:
    """Render ``job`` into the store ``folder`` unless it is complete already (see
    ``render_stores``); returns how many images this call rendered."""
    return render_stores([(job, folder)], workers, shard_size, desc)


def render_stores(
    sets: Sequence[tuple[RenderJob, Path]], workers: int = 0, shard_size: int | None = None, desc: str = "render"
) -> int:
    """Render each ``(job, folder)`` not complete yet into its store, the shards of all
    of them in one pool of ``workers`` processes (0: one per core); returns how many
    images this call rendered.

    Shards already whole are kept (an interrupted rendering resumes); locks make
    concurrent runs sharing a folder render it once.
    """
    return _prepare(sets, workers, shard_size, desc, background=False)()


def start_rendering(
    sets: Sequence[tuple[RenderJob, Path]], workers: int = 0, shard_size: int | None = None, desc: str = "render"
) -> threading.Thread:
    """``render_stores`` in a background thread, for a caller with other work meanwhile.
    The stores are locked and the worker processes started before this returns, so a
    ``render_stores`` of the same sets waits for this one rather than doing it again, and
    no process forks while the caller's thread goes on (importing, say). The images are
    rendered in worker processes even when there is one: trdg draws from the global
    random generators, which the caller may seed meanwhile."""
    finish = _prepare(sets, workers, shard_size, desc, background=True)
    thread = threading.Thread(target=finish, name="render", daemon=True)
    thread.start()
    return thread


def _prepare(
    sets: Sequence[tuple[RenderJob, Path]], workers: int, shard_size: int | None, desc: str, background: bool
) -> Callable[[], int]:
    """Lock the incomplete stores, plan their missing shards and start the pool; returns
    the function that renders them, writes the manifests and lets go of it all."""
    sets = [(job, Path(folder)) for job, folder in sets]
    sets = [(job, folder) for job, folder in sets if not store.is_complete(folder)]
    locks = contextlib.ExitStack()
    try:
        for folder in sorted({folder for _, folder in sets}):  # one order: no deadlock between runs
            locks.enter_context(store.locked(folder))
        for _, folder in sets:
            if store.is_complete(folder):  # another process finished it while we waited
                log.info("%s: completed by another process", folder)
        sets = [(job, folder) for job, folder in sets if not store.is_complete(folder)]
        plans, todo = [], []
        for which, (job, folder) in enumerate(sets):
            folder.mkdir(parents=True, exist_ok=True)
            n, size = len(job.words), shard_size or shard_size_for(len(job.words))
            bounds = [(s, min(s + size, n)) for s in range(0, n, size)]
            plans.append(len(bounds))
            todo += [(which, k, s, e) for k, (s, e) in enumerate(bounds) if not store.shard_is_whole(folder, k, (s, e))]
        workers = min(workers or os.cpu_count() or 1, len(todo))
        if workers > 1 or (background and todo):
            for style in {job.style for job, _ in sets}:  # before the workers fork: one copy for all
                read_photos(style)
            pool = multiprocessing.get_context("fork").Pool(workers, initializer=_start_pool_worker, initargs=(sets,))
            locks.enter_context(pool)
        else:
            _set_sets(sets)
            pool = None
    except BaseException:
        locks.close()
        raise

    def finish() -> int:
        with locks:
            total = sum(len(job.words) for job, _ in sets)
            remaining = sum(e - s for _, _, s, e in todo)
            shown = remaining > 0  # nothing to render: no bar
            with tqdm(total=total, initial=total - remaining, desc=desc, unit="img", disable=not shown) as bar:
                for count in pool.imap_unordered(_render_shard, todo) if pool else map(_render_shard, todo):
                    bar.update(count)
            for (job, folder), num_shards in zip(sets, plans):
                store.write_manifest(folder, num_shards, {"count_requested": len(job.words), "key": job.key()})
                rendered = len(store.ImageStore(folder))
                if rendered < len(job.words):
                    refused = len(job.words) - rendered
                    log.warning("%s: the renderer refused %d of %d words", folder, refused, len(job.words))
        return remaining

    return finish
