"""The "layered" look: trdg draws the (skewed, distorted) text; the letters' width,
weight, outline and shadow, the background, the grey levels, the perspective and the
degradations are composed here, each drawn per image from the style's ranges. Words in
photos are rarely black on white."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def quasicrystal(height: int, width: int, rng: random.Random) -> np.ndarray:
    """A sum of plane waves at evenly turned angles, in [0, 1] (trdg's pattern, vectorised)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = 4 * np.pi / max(height, width)
    x, y = x * scale - 2 * np.pi, y * scale - 2 * np.pi
    waves, frequency, phase = rng.randint(5, 12), rng.uniform(1.0, 4.0), rng.uniform(0, 2 * np.pi)
    angles = np.arange(waves) * np.pi / waves
    z = sum(np.cos(frequency * (x * np.cos(a) + y * np.sin(a)) + phase) for a in angles)
    return (z / waves + 1) / 2


def photo_patch(height: int, width: int, images: list[Path], rng: random.Random) -> np.ndarray:
    """A random crop of one of the background photos, in [0, 1]."""
    with Image.open(rng.choice(images)) as photo:
        photo = photo.convert("L")
        scale = max(height / photo.height, width / photo.width) * rng.uniform(1.0, 3.0)
        photo = photo.resize((max(width, round(photo.width * scale)), max(height, round(photo.height * scale))))
        x, y = rng.randint(0, photo.width - width), rng.randint(0, photo.height - height)
        return np.asarray(photo.crop((x, y, x + width, y + height)), dtype=np.float32) / 255


def background(kind: str, height: int, width: int, images: list[Path], rng: random.Random) -> np.ndarray:
    """A texture in [0, 1] with its mean near 0.5 (the grey level is chosen later)."""
    if kind == "plain":
        return np.full((height, width), 0.5, np.float32)
    if kind == "noise":
        return np.clip(
            np.random.default_rng(rng.getrandbits(32)).normal(0.5, rng.uniform(0.02, 0.12), (height, width)), 0, 1
        )
    texture = quasicrystal(height, width, rng) if kind == "quasicrystal" else photo_patch(height, width, images, rng)
    return 0.5 + (texture - texture.mean()) * rng.uniform(0.2, 0.8)


def compose(text: Image.Image, style, images: list[Path], rng: random.Random) -> np.ndarray:
    """Lay trdg's black-on-white text over a background; returns uint8 grayscale."""
    alpha = 1 - np.asarray(text.convert("L"), dtype=np.float32) / 255
    alpha, shadow, outline = shape_letters(alpha, style, rng)
    word = np.ones(alpha.shape[1], np.float32)  # 1 over the word's own columns
    if style.neighbours:
        (alpha, shadow, outline), word = add_neighbours([alpha, shadow, outline], style.neighbours, rng)
    h, w = alpha.shape
    contrast = rng.uniform(*style.contrast)
    low = rng.uniform(0, 1 - contrast)
    ink, paper = (low + contrast, low) if rng.random() < style.invert else (low, low + contrast)
    texture = background(rng.choice(style.backgrounds), h, w, images, rng)
    pixels = np.clip(paper + (texture - 0.5) * min(contrast, 0.6), 0, 1)
    for layer in (shadow, outline):  # in their own grey levels, under the letters
        if layer is not None:
            pixels = pixels * (1 - layer) + rng.random() * layer
    pixels = pixels * (1 - alpha) + ink * alpha
    if style.lighting and rng.random() < style.lighting:
        pixels = pixels + light_ramp(h, w, rng)
    if style.tight and rng.random() < style.tight:
        coverage = np.maximum.reduce([a for a in (alpha, shadow, outline) if a is not None])
        pixels = ink_crop(pixels, coverage * word, rng)
    image = Image.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255))
    return degrade(image, style, rng)


def shape_letters(alpha: np.ndarray, style, rng: random.Random):
    """Condensed or widened letters, bold strokes, and the shadow and outline that
    signs give them: returns the text's coverage and those of its shadow and outline
    (None where not drawn), all of one size. Strokes grow by a few percent of the
    height; the canvas grows to hold what spills over."""
    h, w = alpha.shape
    if style.width_scale != (1.0, 1.0):
        width = max(1, round(w * rng.uniform(*style.width_scale)))
        alpha = np.asarray(Image.fromarray(alpha).resize((width, h), Image.Resampling.BILINEAR))
    stroke = max(1, round(h * 0.04))
    if style.bold and rng.random() < style.bold:
        alpha = _filtered(alpha, _dilation(rng.randint(1, max(1, h // 40))))
    with_outline = bool(style.outline) and rng.random() < style.outline
    with_shadow = bool(style.shadow) and rng.random() < style.shadow
    if not (with_outline or with_shadow):
        return alpha, None, None
    alpha = np.pad(alpha, 4 * stroke)
    outline = _filtered(alpha, _dilation(rng.randint(1, stroke))) if with_outline else None
    shadow = None
    if with_shadow:  # a drop shadow, or an extrusion of a few steps, hard or soft
        base = alpha if outline is None else outline
        dy, dx = (rng.choice((-1, 1)) * rng.randint(0, stroke) for _ in range(2))
        dy, dx = (dy, dx) if dy or dx else (stroke, stroke)
        steps = rng.randint(1, 3)
        shadow = np.maximum.reduce([np.roll(base, (k * dy, k * dx), axis=(0, 1)) for k in range(1, steps + 1)])
        if rng.random() < 0.5:
            shadow = _filtered(shadow, ImageFilter.GaussianBlur(stroke))
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


def light_ramp(height: int, width: int, rng: random.Random) -> np.ndarray:
    """Uneven light (a shadow across a sign, a lamp): a brightness change of up to 0.4 of
    the grey range, linear along a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp))) - 0.5
    return ramp * rng.uniform(0.1, 0.4) * 2


def _dilation(radius: int) -> ImageFilter.Filter:
    """Grey-level dilation by a square of side 2 radius + 1: strokes get thicker."""
    return ImageFilter.MaxFilter(2 * radius + 1)


def _filtered(coverage: np.ndarray, image_filter: ImageFilter.Filter) -> np.ndarray:
    image = Image.fromarray(np.uint8(np.clip(coverage, 0, 1) * 255)).filter(image_filter)
    return np.asarray(image, dtype=np.float32) / 255


def ink_crop(pixels: np.ndarray, alpha: np.ndarray, rng: random.Random, margin: float = 0.12) -> np.ndarray:
    """The box around the ink with a margin of up to ``margin`` x its height on each side:
    text fills the height of a word cropped from a photo, not half of it. Ink lower than a
    third of the line (a dash, dots) is left uncropped: it would fill the image."""
    rows, cols = np.flatnonzero(alpha.max(axis=1) > 0.3), np.flatnonzero(alpha.max(axis=0) > 0.3)
    height = rows[-1] - rows[0] + 1 if rows.size else 0
    if height < alpha.shape[0] / 3:
        return pixels
    top, bottom, left, right = (round(rng.uniform(0, margin) * height) for _ in range(4))
    return pixels[max(0, rows[0] - top) : rows[-1] + 1 + bottom, max(0, cols[0] - left) : cols[-1] + 1 + right]


def degrade(image: Image.Image, style, rng: random.Random) -> np.ndarray:
    """Perspective, blur, noise, JPEG artefacts and a random crop or pad."""
    w, h = image.size
    if style.perspective and rng.random() < 0.5:
        d = style.perspective
        corners = [(rng.uniform(-d, d) * w, rng.uniform(-d, d) * h) for _ in range(4)]
        quad = (
            corners[0][0],
            corners[0][1],
            corners[1][0],
            h + corners[1][1],
            w + corners[2][0],
            h + corners[2][1],
            w + corners[3][0],
            corners[3][1],
        )
        image = image.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR, fillcolor=_edge(image))
    if style.blur:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, style.blur)))
    pixels = np.asarray(image, dtype=np.float32)
    if style.noise:
        pixels = pixels + np.random.default_rng(rng.getrandbits(32)).normal(
            0, rng.uniform(0, style.noise) * 255, pixels.shape
        )
    image = Image.fromarray(np.uint8(np.clip(pixels, 0, 255)))
    if style.jpeg and rng.random() < style.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(15, 85))
        image = Image.open(buffer).convert("L")
    pixels = np.asarray(image, dtype=np.uint8)
    if style.crop and rng.random() < style.crop and min(h, w) > 4:
        # Widen (with the edge's colours) or cut into each side by up to a tenth of the
        # height (of the width, where narrower): at least 3 rows and columns stay.
        m = max(1, min(h, w) // 10)
        top, bottom, left, right = (rng.randint(0, 2 * m) for _ in range(4))
        pixels = np.pad(pixels, m, mode="edge")[top : h + 2 * m - bottom, left : w + 2 * m - right]
    return np.ascontiguousarray(pixels)


def _edge(image: Image.Image) -> int:
    return int(np.median(np.asarray(image)[:, -1]))
