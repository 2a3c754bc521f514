"""The ``pillow`` renderer: words drawn straight with FreeType through Pillow, then
composed as the ``layered`` look (``ocr.data.layers``), without trdg.

Words of alphabets written letter by letter (Latin, Greek, Cyrillic) are pasted from an
atlas of each font's letters, rasterised once, where HarfBuzz's kerning puts them: no
layout or rasterising per word. Other text goes whole through libraqm where Pillow has
it (HarfBuzz shaping, FriBiDi ordering), so Arabic joins, Devanagari forms its
conjuncts and right-to-left words come out in visual order from labels kept in logical
order. Skew, curved and wavy baselines and perspective are one resampling of the
text's coverage, so the background is never stretched and no edge has to be filled.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import random
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import PIL
import uharfbuzz as hb
from PIL import Image, ImageDraw, ImageFont, features

from ocr.files import cache_key

log = logging.getLogger(__name__)

# Pillow's layout with libraqm when it is there (the wheels ship it); basic layout
# otherwise, which draws Latin, Cyrillic and Greek alike but cannot join or reorder.
LAYOUT = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC


# Shaped text (``draw_text``) is rasterised at sizes that are multiples of this many pixels
# and scaled down to the size drawn: a font's first words at a new size cost three times a
# cached one's (hinting programs, glyph tables), and a loaded size holds ~250 KB.
RASTER_STEP = 8
# Words of alphabets written letter by letter are drawn from an atlas of each font's letters
# rasterised at this size (or at the size drawn, when larger) and scaled down: one atlas a
# font serves every size, so that 1,428 fonts stay cached where 1,428 x 6 loaded sizes did not.
ATLAS_SIZE = 64
# The atlas kerns letters, one glyph each: ligatures and contextual forms off.
LETTERS_ONLY = {"liga": False, "clig": False, "dlig": False, "calt": False, "rlig": False}
# Raised when what an atlas file holds changes, so that files written before are not read.
ATLAS_FORMAT = 1


@functools.lru_cache(maxsize=2048)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A font at a pixel size, loaded once per process (loading costs more than drawing)."""
    return ImageFont.truetype(path, size, layout_engine=LAYOUT)


def raster_size(size: int) -> int:
    """The size ``size`` px text is rasterised at: rounded up to a multiple of ``RASTER_STEP``."""
    return -(-size // RASTER_STEP) * RASTER_STEP


def letter_by_letter(text: str) -> bool:
    """Whether ``text`` is its letters side by side, each in one form whatever its
    neighbours: Latin, Greek, Cyrillic, Armenian without combining marks (not Arabic's
    joining forms, Devanagari's conjuncts or right-to-left order)."""
    return all(ord(c) < 0x0590 and not unicodedata.combining(c) for c in text)


def draw_sized(
    text: str, font_path: str, size: int, spacing: float = 0.0, atlases: str | None = None, alphabet: str = ""
) -> np.ndarray:
    """The coverage of ``text`` in the font at ``size`` px: from the font's ``Atlas`` when
    it is written letter by letter (``spacing``: extra space between letters, a fraction
    of the size; ``atlases``, ``alphabet``: see ``atlas``), otherwise shaped by
    ``draw_text`` at ``raster_size``; either way rasterised larger and scaled down (area
    interpolation) to ``size``."""
    if letter_by_letter(text):
        raster = max(ATLAS_SIZE, raster_size(size))
        coverage = atlas(font_path, raster, atlases, alphabet).draw(text, spacing=spacing * raster)
    else:
        raster = raster_size(size)
        coverage = draw_text(text, load_font(font_path, raster))
    if raster == size:
        return coverage
    h, w = coverage.shape
    scaled = (max(1, round(w * size / raster)), max(1, round(h * size / raster)))
    return cv2.resize(coverage, scaled, interpolation=cv2.INTER_AREA)


def draw_text(text: str, font: ImageFont.FreeTypeFont, pad: int = 2) -> np.ndarray:
    """The coverage of ``text`` in [0, 1], shaped and laid out by the font (joining forms,
    conjuncts, marks, right-to-left order): the font's ascent and descent high (more
    where marks reach beyond them), the baseline where the font puts it, ``pad`` empty
    columns on each side."""
    left, top, right, bottom = font.getbbox(text, anchor="ls")  # from the start of the baseline
    ascent, descent = font.getmetrics()
    above, below = max(ascent, -top), max(descent, bottom)
    canvas = Image.new("L", (max(1, right - min(0, left) + 2 * pad), above + below))
    ImageDraw.Draw(canvas).text((pad - min(0, left), above), text, fill=255, font=font, anchor="ls")
    return np.asarray(canvas, dtype=np.float32) / 255


class Atlas:
    """One font's letters, each rasterised once at one size: a word written letter by
    letter is its letters pasted where the font's pen puts them, kerned as HarfBuzz
    shapes the word (a tenth of the time of Pillow laying out and rasterising it). Drawn
    as ``draw_text`` draws, less ligatures and contextual forms.

    ``letters`` and ``metrics`` (ascent, descent) are those of an atlas read from a file
    (``read``); letters not in it are rasterised as words need them."""

    def __init__(self, path: str, size: int, letters: dict | None = None, metrics: tuple[int, int] | None = None):
        self.path, self.size = path, size
        self.ascent, self.descent = metrics or self.font.getmetrics()
        # letter -> its coverage (uint8), where it lies from the pen on the baseline, its advance
        self.letters: dict[str, tuple[np.ndarray, int, int, float]] = letters or {}
        self.shaper = hb.Font(hb.Face(hb.Blob.from_file_path(path)))  # the file mapped, not read
        self.pixels_per_unit = size / self.shaper.face.upem

    @functools.cached_property
    def font(self) -> ImageFont.FreeTypeFont:
        """The font at the atlas's size, loaded when its first letter is rasterised (never,
        for an atlas read whole from a file) and let go with the atlas."""
        return ImageFont.truetype(self.path, self.size, layout_engine=LAYOUT)

    def letter(self, c: str) -> tuple[np.ndarray, int, int, float]:
        if c not in self.letters:
            font = self.font
            # Drawn on a canvas with room for any letter around the pen and cut to its ink:
            # one layout fewer than asking its box first (a font's letters fill its atlas in
            # its first few hundred words). A letter reaching an edge is drawn to its box.
            size = self.size
            pen = (size, 2 * size)
            canvas, box = _drawn_letter(c, font, (4 * size, 3 * size), pen)
            if box and (box[0] == 0 or box[1] == 0 or box[2] == canvas.width or box[3] == canvas.height):
                left, top, right, bottom = font.getbbox(c, anchor="ls")
                pen = (-left, -top)
                canvas, box = _drawn_letter(c, font, (right - left, bottom - top), pen)
            box = box or (pen[0], pen[1], pen[0], pen[1])  # no ink (a space)
            ink = np.asarray(canvas.crop(box))
            self.letters[c] = (ink, box[0] - pen[0], box[1] - pen[1], font.getlength(c))
        return self.letters[c]

    def kerning(self, text: str) -> list[float]:
        """Pixels each letter's advance changes by in ``text``: the font's kerning of it
        and the letter after it, as HarfBuzz positions them (none where the font draws
        the letters as other glyphs than one each)."""
        buffer = hb.Buffer()
        buffer.add_str(text)
        buffer.guess_segment_properties()
        hb.shape(self.shaper, buffer, LETTERS_ONLY)
        glyphs, positions = buffer.glyph_infos or [], buffer.glyph_positions or []
        if len(glyphs) != len(text):
            return [0.0] * len(text)
        nominal = self.shaper.get_glyph_h_advance
        return [(p.x_advance - nominal(g.codepoint)) * self.pixels_per_unit for g, p in zip(glyphs, positions)]

    def draw(self, text: str, pad: int = 2, spacing: float = 0.0) -> np.ndarray:
        """The coverage of ``text`` as ``draw_text`` frames it; ``spacing``: pixels added
        between letters (letter-spaced signs)."""
        placed, pen = [], 0.0
        for k, (c, kern) in enumerate(zip(text, self.kerning(text))):
            pen += spacing if k else 0.0
            coverage, left, top, advance = self.letter(c)
            if coverage.size:
                placed.append((coverage, round(pen) + left, top))
            pen += advance + kern
        # Pillow's frame: from the pen's start and to its end at least, the ink's if beyond.
        start = min((x for _, x, _ in placed), default=0)
        end = max([round(pen)] + [x + c.shape[1] for c, x, _ in placed])
        above = max([self.ascent] + [-y for _, _, y in placed])
        below = max([self.descent] + [y + c.shape[0] for c, _, y in placed])
        shift = pad - min(0, start)
        canvas = np.zeros((above + below, max(1, end + shift + pad)), np.uint8)
        for coverage, x, y in placed:  # overlapping letters: the darker coverage, as Pillow draws
            h, w = coverage.shape
            region = canvas[above + y : above + y + h, x + shift : x + shift + w]
            np.maximum(region, coverage, out=region)
        return canvas.astype(np.float32) / 255

    def write(self, file: Path) -> None:
        """Keep the letters drawn so far in ``file`` (.json: where each lies, its advance,
        the font's metrics) and ``file`` .npy (their pixels, one after another), each
        written whole under another name and then renamed: a reader sees no half file."""
        table, offset = {}, 0
        for c, (coverage, left, top, advance) in self.letters.items():
            table[c] = (offset, *coverage.shape, left, top, advance)
            offset += coverage.size
        pixels = np.concatenate([coverage.ravel() for coverage, *_ in self.letters.values()] + [np.zeros(1, np.uint8)])
        meta = {"font": self.path, "size": self.size, "metrics": [self.ascent, self.descent], "letters": table}
        file.parent.mkdir(parents=True, exist_ok=True)
        temporary = file.with_name(f"{file.stem}.{os.getpid()}.json")
        np.save(temporary.with_suffix(".npy"), pixels)
        os.replace(temporary.with_suffix(".npy"), file.with_suffix(".npy"))
        temporary.write_text(json.dumps(meta))
        os.replace(temporary, file)  # last: whoever finds the table finds the pixels

    @classmethod
    def read(cls, path: str, size: int, file: Path) -> Atlas:
        """The atlas ``write`` kept in ``file``, its pixels mapped from the file: every
        process reading it shares one copy in memory."""
        meta = json.loads(file.with_suffix(".json").read_text())
        pixels = np.asarray(np.load(file.with_suffix(".npy"), mmap_mode="r"))
        letters = {}
        for c, (offset, h, w, left, top, advance) in meta["letters"].items():
            letters[c] = (pixels[offset : offset + h * w].reshape(h, w), left, top, advance)
        return cls(path, size, letters, tuple(meta["metrics"]))


def atlas_file(folder: str, path: str, size: int, alphabet: str) -> Path:
    """Where the atlas of the font ``path`` at ``size`` px with the letters of ``alphabet``
    is kept in ``folder``: named by everything its pixels depend on (the font file's size
    and time, the versions of Pillow and FreeType that rasterise it)."""
    stat = os.stat(path)
    versions = [ATLAS_FORMAT, PIL.__version__, features.version("freetype2")]
    digest = cache_key([path, stat.st_size, stat.st_mtime_ns, size, alphabet, versions])
    return Path(folder) / f"{Path(path).stem}-{size}-{digest}.json"


def _drawn_letter(c: str, font: ImageFont.FreeTypeFont, size: tuple[int, int], pen: tuple[int, int]):
    """A canvas of ``size`` with ``c`` drawn at ``pen`` on the baseline, and its ink's box (None: no ink)."""
    canvas = Image.new("L", size)
    ImageDraw.Draw(canvas).text(pen, c, fill=255, font=font, anchor="ls")
    return canvas, canvas.getbbox()


@functools.lru_cache(maxsize=2048)
def atlas(path: str, size: int, folder: str | None = None, alphabet: str = "") -> Atlas:
    """The font's atlas at ``size`` px (once per process), filled as words need its
    letters. With a ``folder``, its letters of ``alphabet`` (those written letter by
    letter) are read from the file a process wrote there before, one copy in memory for
    all processes (``Atlas.read``), or rasterised now and written there for the others
    and the next runs: each font's letters are drawn once on a machine."""
    if not folder:
        return Atlas(path, size)
    file = atlas_file(folder, path, size, alphabet)
    try:
        return Atlas.read(path, size, file)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("%s: unreadable (%s), drawn again", file, error)
    filled = Atlas(path, size)
    for c in dict.fromkeys(alphabet):
        if letter_by_letter(c):
            filled.letter(c)
    try:
        filled.write(file)
    except OSError as error:
        log.warning("%s: cannot keep the font's letters there (%s): drawn by each process", file, error)
        return filled
    return Atlas.read(path, size, file)


def bend(coverage: np.ndarray, kind: str, rng: random.Random) -> np.ndarray:
    """A wavy (``sine``, ``cosine``) or curved (``random``: an arc up or down) baseline:
    columns move up or down by up to a sixth of the height; the canvas grows to hold them."""
    if kind == "none":
        return coverage
    h, w = coverage.shape
    x = np.arange(w, dtype=np.float32)
    amplitude = rng.uniform(0.05, 1 / 6) * h
    if kind == "random":
        shift = amplitude * ((2 * x / max(1, w - 1) - 1) ** 2) * rng.choice((-1, 1))
    else:
        phase = 0.0 if kind == "sine" else math.pi / 2
        shift = amplitude * np.sin(2 * math.pi * x / max(w, 2 * h) * rng.uniform(0.5, 1.5) + phase)
    shift -= shift.min()
    grown = int(math.ceil(shift.max())) + 1
    ys = np.arange(h + grown, dtype=np.float32)[:, None] - shift[None, :]
    xs = np.broadcast_to(x[None, :], ys.shape)
    return cv2.remap(coverage, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def tilt(coverage: np.ndarray, skew: float, perspective: float, rng: random.Random, turn=(0.0, 0.0)) -> np.ndarray:
    """Rotate by up to ``skew`` degrees (with probability ``turn[0]``, by up to ``turn[1]``:
    a word on a sign photographed askew, so that it rises by at most 1.5 times its height
    across its length) and move each corner by up to ``perspective`` of the size (the
    plane of a sign seen at an angle), in one warp; the canvas is the bounding box of the
    result."""
    h, w = coverage.shape
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners.copy()
    if perspective and rng.random() < 0.5:
        d = perspective
        moved += np.float32([[rng.uniform(-d, d) * w, rng.uniform(-d, d) * h] for _ in range(4)])
    limit = skew
    if turn[0] and rng.random() < turn[0]:
        limit = max(skew, min(turn[1], math.degrees(math.atan(1.5 * h / w))))
    if limit:
        angle = math.radians(rng.uniform(-limit, limit))
        c, s = math.cos(angle), math.sin(angle)
        moved = (moved - [w / 2, h / 2]) @ np.float32([[c, s], [-s, c]]) + [w / 2, h / 2]
    if np.array_equal(moved, corners):
        return coverage
    moved -= moved.min(axis=0)
    size = np.ceil(moved.max(axis=0)).astype(int) + 1
    matrix = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    return cv2.warpPerspective(coverage, matrix, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR, borderValue=0)


def draw_word(
    text: str, font_path: str, size: int, style, rng: random.Random, atlases: str | None = None, alphabet: str = ""
) -> np.ndarray:
    """The coverage of one word as the style shapes it: drawn, its baseline bent, rotated
    and seen in perspective, with the style's margins (the letters' width, weight,
    outline and shadow are ``ocr.data.layers.shape_letters``; ``atlases``, ``alphabet``:
    where the fonts' letters are kept, see ``atlas``)."""
    spacing = 0.0
    if style.spacing[0] and rng.random() < style.spacing[0]:
        spacing = rng.uniform(0.05, style.spacing[1])
    coverage = draw_sized(text, font_path, size, spacing, atlases, alphabet)
    coverage = bend(coverage, rng.choice(style.distortions), rng)
    coverage = tilt(coverage, style.skew, style.perspective, rng, style.turn)
    top, left, bottom, right = style.margins
    return cv2.copyMakeBorder(coverage, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
