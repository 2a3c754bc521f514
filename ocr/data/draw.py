"""The ``pillow`` renderer: words drawn straight with FreeType through Pillow, then
composed as the ``layered`` look (``ocr.data.layers``), without trdg.

Text goes through libraqm where Pillow has it (HarfBuzz shaping, FriBiDi ordering), so
Arabic joins, Devanagari forms its conjuncts and right-to-left words come out in visual
order from labels kept in logical order. A word is drawn once, whole, at its size
(trdg draws letter by letter, which breaks shaping and costs a call per letter); skew,
curved and wavy baselines and perspective are one resampling of the text's coverage,
so the background is never stretched and no edge has to be filled.
"""

from __future__ import annotations

import functools
import math
import random
import unicodedata

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

# Pillow's layout with libraqm when it is there (the wheels ship it); basic layout
# otherwise, which draws Latin, Cyrillic and Greek alike but cannot join or reorder.
LAYOUT = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC


# Fonts are rasterised at sizes that are multiples of this many pixels and scaled down to
# the size drawn: a font's first words at a new size cost three times a cached one's
# (hinting programs, glyph tables), and a loaded size holds ~250 KB, so 236 fonts at every
# size from 24 to 64 px would not stay cached; at six sizes they do.
RASTER_STEP = 8


@functools.lru_cache(maxsize=2048)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A font at a pixel size, loaded once per process (loading costs more than drawing)."""
    return ImageFont.truetype(path, size, layout_engine=LAYOUT)


def raster_size(size: int) -> int:
    """The size ``size`` px text is rasterised at: rounded up to a multiple of ``RASTER_STEP``."""
    return -(-size // RASTER_STEP) * RASTER_STEP


def draw_sized(text: str, font_path: str, size: int, spacing: float = 0.0) -> np.ndarray:
    """``draw_text`` of ``text`` in the font at ``size`` px, rasterised at ``raster_size``
    and scaled down (area interpolation) by ``size / raster_size``; ``spacing``: extra
    space between letters, a fraction of the size."""
    raster = raster_size(size)
    coverage = draw_text(text, load_font(font_path, raster), spacing=round(spacing * raster))
    if raster == size:
        return coverage
    h, w = coverage.shape
    scaled = (max(1, round(w * size / raster)), max(1, round(h * size / raster)))
    return cv2.resize(coverage, scaled, interpolation=cv2.INTER_AREA)


def draw_text(text: str, font: ImageFont.FreeTypeFont, pad: int = 2, spacing: int = 0) -> np.ndarray:
    """The coverage of ``text`` in [0, 1]: the font's ascent and descent high (more where
    marks reach beyond them), the baseline where the font puts it, ``pad`` empty columns
    on each side. ``spacing``: pixels added between letters (letter-spaced signs), for
    alphabets drawn letter by letter (Latin, Greek, Cyrillic: no joining, no marks);
    other text is drawn as it is."""
    left, top, right, bottom = font.getbbox(text, anchor="ls")  # from the start of the baseline
    ascent, descent = font.getmetrics()
    above, below = max(ascent, -top), max(descent, bottom)
    spaced = spacing > 0 and len(text) > 1 and all(ord(c) < 0x0590 and not unicodedata.combining(c) for c in text)
    extra = spacing * (len(text) - 1) if spaced else 0
    canvas = Image.new("L", (max(1, right - min(0, left) + extra + 2 * pad), above + below))
    pen = ImageDraw.Draw(canvas)
    if not spaced:
        pen.text((pad - min(0, left), above), text, fill=255, font=font, anchor="ls")
    else:  # each letter where the font puts it (kerning kept), moved on by the spacing so far
        for k, letter in enumerate(text):
            x = pad - min(0, left) + font.getlength(text[:k]) + k * spacing
            pen.text((x, above), letter, fill=255, font=font, anchor="ls")
    return np.asarray(canvas, dtype=np.float32) / 255


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


def draw_word(text: str, font_path: str, size: int, style, rng: random.Random) -> np.ndarray:
    """The coverage of one word as the style shapes it: drawn, its baseline bent, rotated
    and seen in perspective, with the style's margins (the letters' width, weight,
    outline and shadow are ``ocr.data.layers.shape_letters``)."""
    spacing = 0.0
    if style.spacing[0] and rng.random() < style.spacing[0]:
        spacing = rng.uniform(0.05, style.spacing[1])
    coverage = draw_sized(text, font_path, size, spacing)
    coverage = bend(coverage, rng.choice(style.distortions), rng)
    coverage = tilt(coverage, style.skew, style.perspective, rng, style.turn)
    top, left, bottom, right = style.margins
    return cv2.copyMakeBorder(coverage, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
