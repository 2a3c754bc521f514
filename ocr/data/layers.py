"""The "layered" look: the text's coverage (drawn by trdg, or by ``ocr.data.draw``) is
given its letters' width, weight, outline and shadow, laid on a background (a texture,
or a part of a photograph with the ink's level chosen against it), then degraded; each
drawn per image from the style's ranges. Words in photos are rarely black on white."""

from __future__ import annotations

import colorsys
import functools
import random
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

# Photographs are read once per process (or once before the workers that draw on them
# start: ``read_photos``), at most this many pixels on their shorter side (a word's
# background is a small part of one, enlarged).
PHOTO_SIDE = 256
PHOTOS_KEPT = 4096
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# How far a clipped crop to the ink (``clip``) cuts into it, at most: x the text's height,
# about a third of a capital.
CLIP_DEPTH = 0.25


def quasicrystal(height: int, width: int, rng: random.Random) -> np.ndarray:
    """A sum of plane waves at evenly turned angles, in [0, 1] (trdg's pattern). Its
    shortest period is an eighth of the longer side: it is computed on every fourth
    pixel and enlarged."""
    step = 4
    y, x = np.mgrid[0 : height + step : step, 0 : width + step : step].astype(np.float32)
    scale = 4 * np.pi / max(height, width)
    x, y = x * scale - 2 * np.pi, y * scale - 2 * np.pi
    waves, frequency, phase = rng.randint(5, 12), rng.uniform(1.0, 4.0), rng.uniform(0, 2 * np.pi)
    angles = np.arange(waves) * np.pi / waves
    z = sum(np.cos(frequency * (x * np.cos(a) + y * np.sin(a)) + phase) for a in angles)
    z = cv2.resize((z / waves + 1) / 2, (x.shape[1] * step, x.shape[0] * step), interpolation=cv2.INTER_LINEAR)
    return z[:height, :width]


@functools.lru_cache(maxsize=16)
def photo_files(folders: tuple[str, ...]) -> tuple[Path, ...]:
    """The photographs in ``folders`` (sorted, so a seed draws the same ones anywhere)."""
    files = []
    for folder in folders:
        if not Path(folder).expanduser().is_dir():
            raise FileNotFoundError(
                f"data.style.photos: {folder} is not a folder (`make photos` fetches photographs "
                "that may be trained on into data/photos/debian)"
            )
        found = sorted(p for p in Path(folder).expanduser().rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
        if not found:
            raise FileNotFoundError(f"data.style.photos: no images ({', '.join(PHOTO_SUFFIXES)}) in {folder}")
        files += found
    return tuple(files)


@functools.lru_cache(maxsize=PHOTOS_KEPT)
def _photo(path: Path, mode: str = "L") -> np.ndarray:
    """A photograph in grey levels (``mode`` "L", converted as every input is:
    ``ocr.data.images``) or in colour ("RGB"), at most ``PHOTO_SIDE`` pixels on its
    shorter side."""
    with Image.open(path) as photo:
        photo = photo.convert(mode)
        photo.thumbnail((PHOTO_SIDE * photo.width // min(photo.size), PHOTO_SIDE * photo.height // min(photo.size)))
        return np.asarray(photo)


def read_photos(photos: tuple[Path, ...], modes: tuple[str, ...] = ("L",)) -> None:
    """Read ``photos`` in ``modes`` now, as many as the cache holds: processes forked
    afterwards (render and loader workers) share their pixels with this one instead of
    each reading a copy of its own (47 MB a process for BSDS500's 500 photos)."""
    for path in photos[: PHOTOS_KEPT // len(modes)]:
        for mode in modes:
            _photo(path, mode)


def photo_crop(height: int, width: int, photos: tuple[Path, ...], rng: random.Random, mode: str = "L") -> np.ndarray:
    """A random part of a random photograph, enlarged to ``height`` x ``width``, in [0, 1]:
    between a twelfth and half of the photo's height, as wide as the word needs (less
    high where the photo is not wide enough), mirrored half of the time. ``mode`` "RGB":
    in colour, ``(height, width, 3)``."""
    photo = _photo(rng.choice(photos), mode)
    ph, pw = photo.shape[:2]
    h = rng.uniform(1 / 12, 1 / 2) * ph
    h = max(2, min(h, pw * height / width))
    w = max(2, min(pw, round(h * width / height)))
    h = max(2, min(ph, round(h)))
    y, x = rng.randint(0, ph - h), rng.randint(0, pw - w)
    crop = cv2.resize(photo[y : y + h, x : x + w], (width, height), interpolation=cv2.INTER_LINEAR)
    crop = crop[:, ::-1] if rng.random() < 0.5 else crop
    return crop.astype(np.float32) / 255


def background(kind: str, height: int, width: int, images: tuple[Path, ...], rng: random.Random) -> np.ndarray:
    """A texture in [0, 1] with its mean near 0.5 (the grey level is chosen later)."""
    if kind == "plain":
        return np.full((height, width), 0.5, np.float32)
    if kind == "noise":
        normal = _gaussian((height, width), rng)
        return np.clip(0.5 + normal * np.float32(rng.uniform(0.02, 0.12)), 0, 1)
    texture = quasicrystal(height, width, rng) if kind == "quasicrystal" else photo_crop(height, width, images, rng)
    return 0.5 + (texture - texture.mean()) * rng.uniform(0.2, 0.8)


def compose(alpha: np.ndarray, style, images: tuple[Path, ...], rng: random.Random, tilted: bool = False) -> np.ndarray:
    """Lay the text's coverage ``alpha`` (in [0, 1]) over a background; returns uint8
    grayscale. ``tilted``: the coverage is already seen in perspective (``ocr.data.draw``)."""
    alpha, shadow, outline = shape_letters(alpha, style, rng)
    word = np.ones(alpha.shape[1], np.float32)  # 1 over the word's own columns
    if style.neighbours:
        (alpha, shadow, outline), word = add_neighbours([alpha, shadow, outline], style.neighbours, rng)
    if style.lines:
        alpha, shadow, outline = add_lines([alpha, shadow, outline], style.lines, rng)
    h, w = alpha.shape
    contrast = rng.uniform(*style.contrast)
    low = rng.uniform(0, 1 - contrast)
    inverted = rng.random() < style.invert
    ink, paper = (low + contrast, low) if inverted else (low, low + contrast)
    kind = rng.choice(style.backgrounds)
    if style.colour and rng.random() < style.colour:
        pixels = in_colour(alpha, shadow, outline, kind, contrast, style, images, rng)
    elif kind == "photo":
        photo = photo_crop(h, w, photo_files(style.photos), rng)
        pixels = on_photo(alpha, shadow, outline, photo, contrast, inverted, rng)
    else:
        texture = background(kind, h, w, images, rng)
        pixels = paint(np.clip(paper + (texture - 0.5) * min(contrast, 0.6), 0, 1), alpha, shadow, outline, ink, rng)
    if style.lighting and rng.random() < style.lighting:
        pixels = pixels + light_ramp(h, w, rng)
    if style.tight and rng.random() < style.tight:
        coverage = np.maximum.reduce([a for a in (alpha, shadow, outline) if a is not None])
        pixels = ink_crop(pixels, coverage * word, rng, style.tight_margin, style.clip)
    return degrade(np.clip(pixels, 0, 1), style, rng, perspective=not tilted)


def on_photo(alpha, shadow, outline, photo: np.ndarray, contrast: float, inverted: bool, rng: random.Random):
    """Paint the text on a photograph (grey levels in [0, 1]): the ink ``contrast`` darker
    than the photo's mean (lighter where ``inverted``, or where darker does not fit), or
    half of the time the level of one of the photo's own pixels where that differs from
    the mean by at least half as much; the paint lets the photo's texture show through
    (0-40%); shadow and outline in levels of their own."""
    mean = float(photo.mean())
    ink = mean + contrast if inverted else mean - contrast
    if not 0 <= ink <= 1:
        ink = mean - contrast if inverted else mean + contrast
    sample = float(photo[rng.randrange(photo.shape[0]), rng.randrange(photo.shape[1])])
    if rng.random() < 0.5 and abs(sample - mean) >= contrast / 2:
        ink = sample
    textured_ink = np.clip(ink, 0, 1) + (photo - mean) * rng.uniform(0, 0.4)
    return paint(photo, alpha, shadow, outline, textured_ink, rng)


def paint(pixels: np.ndarray, alpha, shadow, outline, ink, rng: random.Random) -> np.ndarray:
    """The shadow and the outline (where drawn), each in a grey level of its own, then the
    letters in ``ink`` (a level, or levels per pixel), over ``pixels``. Pixels in colour
    ``(h, w, 3)``: the ink is a colour (or colours per pixel), shadow and outline get
    random colours."""
    if pixels.ndim == 3:
        alpha, shadow, outline = (None if a is None else a[..., None] for a in (alpha, shadow, outline))
    for layer in (shadow, outline):
        if layer is not None:
            level = random_colour(rng) if pixels.ndim == 3 else rng.random()
            pixels = pixels * (1 - layer) + level * layer
    return pixels * (1 - alpha) + ink * alpha


# ITU-R 601-2 luma, the weights of Pillow's convert("L"), which every input goes through.
LUMA = np.float32([0.299, 0.587, 0.114])


def in_colour(alpha, shadow, outline, kind: str, contrast: float, style, images, rng: random.Random) -> np.ndarray:
    """The text painted in colour on a coloured background, then made grey as inputs are
    (``LUMA``): red letters on a green wall of the same brightness come out faint, as in
    photos. The ink differs from the background's mean colour by at least ``contrast``
    (in RGB, 1 being black to white): its grey level may differ far less. On a photograph,
    half of the time the ink is one of the photo's own colours where that differs enough,
    and the photo's texture shows through it (0-40%); on a texture, the paper is a random
    colour shaded by it."""
    h, w = alpha.shape
    if kind == "photo":
        base = photo_crop(h, w, photo_files(style.photos), rng, mode="RGB")
        mean = base.reshape(-1, 3).mean(axis=0)
        sample = base[rng.randrange(h), rng.randrange(w)]
        use_sample = rng.random() < 0.5 and _distance(sample, mean) >= contrast / 2
        ink = (sample if use_sample else contrasting(mean, contrast, rng)) + (base - mean) * rng.uniform(0, 0.4)
    else:
        paper = random_colour(rng)
        texture = background(kind, h, w, images, rng)
        base = np.clip(paper + (texture[..., None] - 0.5) * min(contrast, 0.6), 0, 1)
        ink = contrasting(paper, contrast, rng)
    return paint(base, alpha, shadow, outline, np.clip(ink, 0, 1), rng) @ LUMA


def random_colour(rng: random.Random) -> np.ndarray:
    """An RGB colour in [0, 1]: a grey a third of the time (black, white and greys are the
    commonest inks), else a hue at any saturation from 0.3 and brightness from 0.2."""
    if rng.random() < 1 / 3:
        return np.full(3, rng.random(), np.float32)
    return np.float32(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.3, 1), rng.uniform(0.2, 1)))


def contrasting(colour: np.ndarray, distance: float, rng: random.Random, attempts: int = 20) -> np.ndarray:
    """A random colour at least ``distance`` from ``colour`` (``_distance``); the farthest
    corner of the RGB cube if none of ``attempts`` draws is."""
    for _ in range(attempts):
        candidate = random_colour(rng)
        if _distance(candidate, colour) >= distance:
            return candidate
    return np.float32(colour < 0.5)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance in RGB, 1 from black to white."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - b) / np.sqrt(3))


def shape_letters(alpha: np.ndarray, style, rng: random.Random):
    """Condensed or widened letters, bold strokes, and the shadow and outline that
    signs give them: returns the text's coverage and those of its shadow and outline
    (None where not drawn), all of one size. Strokes grow by a few percent of the
    height; the canvas grows to hold what spills over."""
    h, w = alpha.shape
    if style.width_scale != (1.0, 1.0):
        width = max(1, round(w * rng.uniform(*style.width_scale)))
        alpha = cv2.resize(alpha, (width, h), interpolation=cv2.INTER_LINEAR)
    stroke = max(1, round(h * 0.04))
    if style.bold and rng.random() < style.bold:
        alpha = _dilated(alpha, rng.randint(1, max(1, h // 40)))
    with_outline = bool(style.outline) and rng.random() < style.outline
    with_shadow = bool(style.shadow) and rng.random() < style.shadow
    if not (with_outline or with_shadow):
        return alpha, None, None
    alpha = np.pad(alpha, 4 * stroke)
    outline = _dilated(alpha, rng.randint(1, stroke)) if with_outline else None
    shadow = None
    if with_shadow:  # a drop shadow, or an extrusion of a few steps, hard or soft
        base = alpha if outline is None else outline
        dy, dx = (rng.choice((-1, 1)) * rng.randint(0, stroke) for _ in range(2))
        dy, dx = (dy, dx) if dy or dx else (stroke, stroke)
        steps = rng.randint(1, 3)
        shadow = np.maximum.reduce([np.roll(base, (k * dy, k * dx), axis=(0, 1)) for k in range(1, steps + 1)])
        if rng.random() < 0.5:
            shadow = _blurred(shadow, stroke)
    return alpha, shadow, outline


def add_neighbours(layers: list, probability: float, rng: random.Random):
    """Bits of the letters beside the word, which word crops from photos often hold: on
    each side, with ``probability``, a slice of the word's own layers (so the same font
    and size), 0.1-0.35 x the height wide (part of a letter), 0.05-0.25 x it away.
    Returns the widened layers and a column mask that is 1 over the word (the tight crop
    keeps to the word, so the neighbours show at its edges, cut)."""
    h, w = layers[0].shape
    left, right = [], []
    for side in (left, right):
        if rng.random() < probability:
            width = min(w, rng.randint(max(1, h // 10), max(2, h * 35 // 100)))
            start, gap = rng.randint(0, w - width), rng.randint(h // 20, max(1, h // 4))
            side += [start, width, gap]

    def widen(layer: np.ndarray) -> np.ndarray:
        parts = [layer]
        if left:
            parts = [layer[:, left[0] : left[0] + left[1]], np.zeros((h, left[2]), np.float32), *parts]
        if right:
            parts = [*parts, np.zeros((h, right[2]), np.float32), layer[:, right[0] : right[0] + right[1]]]
        return np.concatenate(parts, axis=1)

    word = np.concatenate([np.zeros(sum(left[1:])), np.ones(w), np.zeros(sum(right[1:]))]).astype(np.float32)
    return [None if layer is None else widen(layer) for layer in layers], word


def add_lines(layers: list, probability: float, rng: random.Random) -> list:
    """The edges of the text lines above and below, which crops of words on signs and
    pages often hold: on each side, with ``probability``, the bottom (above) or the top
    (below) 15-50% of the word's own ink, shifted sideways so that other letters show,
    0.05-0.3 x the ink's height away. Returns the layers, taller; the parts lie at their
    edges, so a crop to the ink keeps them, cut."""
    coverage = np.maximum.reduce([layer for layer in layers if layer is not None])
    rows = np.flatnonzero(coverage.max(axis=1) > 0.3)
    if rows.size < 4:
        return layers
    h, w = coverage.shape
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    ink = bottom - top
    parts = {}
    for side in ("above", "below"):
        if rng.random() < probability:
            rows_kept = max(2, round(rng.uniform(0.15, 0.5) * ink))
            gap = round(rng.uniform(0.05, 0.3) * ink) - (top if side == "above" else h - bottom)
            parts[side] = (rows_kept, max(0, gap), rng.randrange(w))

    def stack(layer: np.ndarray) -> np.ndarray:
        pieces = [layer]
        if "above" in parts:
            rows_kept, gap, shift = parts["above"]
            pieces = [
                np.roll(layer[bottom - rows_kept : bottom], shift, axis=1),
                np.zeros((gap, w), np.float32),
                *pieces,
            ]
        if "below" in parts:
            rows_kept, gap, shift = parts["below"]
            pieces = [*pieces, np.zeros((gap, w), np.float32), np.roll(layer[top : top + rows_kept], shift, axis=1)]
        return np.concatenate(pieces, axis=0)

    return [None if layer is None else stack(layer) for layer in layers]


def light_ramp(height: int, width: int, rng: random.Random) -> np.ndarray:
    """Uneven light (a shadow across a sign, a lamp): a brightness change of up to 0.4 of
    the grey range, linear along a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp))) - 0.5
    return ramp * rng.uniform(0.1, 0.4) * 2


def _dilated(coverage: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation by a square of side 2 radius + 1: strokes get thicker."""
    return cv2.dilate(coverage, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))


def _gaussian(shape: tuple[int, ...], rng: random.Random) -> np.ndarray:
    """Standard normal float32 noise of ``shape``, seeded from ``rng``. OpenCV's generator
    (one per thread, seeded here for each image) draws it five times faster than NumPy's."""
    cv2.setRNGSeed(rng.getrandbits(31))
    noise = np.empty(shape, np.float32)
    cv2.randn(noise, 0.0, 1.0)
    return noise


def _blurred(pixels: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(pixels, (0, 0), sigma) if sigma >= 0.1 else pixels


def ink_crop(
    pixels: np.ndarray, alpha: np.ndarray, rng: random.Random, margin: float = 0.12, clip: float = 0.0
) -> np.ndarray:
    """The box around the ink with a margin of up to ``margin`` x its height on each side:
    text fills the height of a word cropped from a photo, not half of it. With probability
    ``clip`` the left or the right side cuts into the ink instead, by up to ``CLIP_DEPTH`` x
    its height: a letter at a word's end cut by its box, as real crops have them (the label
    keeps the letter); ink under twice as wide as tall is not cut. Ink lower than a third of
    the line (a dash, dots) is left uncropped: it would fill the image."""
    rows, cols = np.flatnonzero(alpha.max(axis=1) > 0.3), np.flatnonzero(alpha.max(axis=0) > 0.3)
    height = rows[-1] - rows[0] + 1 if rows.size else 0
    if height < alpha.shape[0] / 3:
        return pixels
    top, bottom, left, right = (round(rng.uniform(0, margin) * height) for _ in range(4))
    if clip and cols[-1] - cols[0] + 1 >= 2 * height:
        left, right = (-round(rng.uniform(0, CLIP_DEPTH) * height) if rng.random() < clip else m for m in (left, right))
    return pixels[max(0, rows[0] - top) : rows[-1] + 1 + bottom, max(0, cols[0] - left) : cols[-1] + 1 + right]


def degrade(pixels: np.ndarray, style, rng: random.Random, perspective: bool = True) -> np.ndarray:
    """Grey levels in [0, 1] seen in perspective (unless ``perspective`` is off: the text
    was), blurred, noisy, JPEG-compressed and cut or padded at random; returns uint8."""
    pixels = pixels.astype(np.float32)
    h, w = pixels.shape
    if perspective and style.perspective and rng.random() < 0.5:
        d = style.perspective
        corners = np.float32([[0, 0], [0, h], [w, h], [w, 0]])
        moved = corners + np.float32([[rng.uniform(-d, d) * w, rng.uniform(-d, d) * h] for _ in range(4)])
        matrix = cv2.getPerspectiveTransform(moved, corners)  # where each corner's pixel comes from
        edge = float(np.median(pixels[:, -1]))
        pixels = cv2.warpPerspective(pixels, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=edge)
    if style.blur:
        pixels = _blurred(pixels, rng.uniform(0, style.blur))
    pixels = pixels * 255
    if style.noise:
        sigma = np.float32(rng.uniform(0, style.noise) * 255)
        pixels = pixels + _gaussian(pixels.shape, rng) * sigma
    pixels = np.uint8(np.clip(pixels + 0.5, 0, 255))
    if style.jpeg and rng.random() < style.jpeg:
        _, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(15, 85)])
        pixels = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    if style.crop and rng.random() < style.crop and min(h, w) > 4:
        # Widen (with the edge's colours) or cut into each side by up to a tenth of the
        # height (of the width, where narrower): at least 3 rows and columns stay.
        m = max(1, min(h, w) // 10)
        top, bottom, left, right = (rng.randint(0, 2 * m) for _ in range(4))
        pixels = cv2.copyMakeBorder(pixels, m, m, m, m, cv2.BORDER_REPLICATE)[
            top : h + 2 * m - bottom, left : w + 2 * m - right
        ]
    return np.ascontiguousarray(pixels)
