"""Reading any image a user has into what the model eats: uint8 grayscale, ``imgH`` high.

Every path into the model (rendered words, labelled folders, LMDB, ``predict.py``, the
``Recognizer``) goes through ``to_model_input`` so that training and inference see the
same pixels.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ocr.geometry import MARGIN

# Larger images are refused before they are decoded (a decompression bomb would take
# gigabytes). A word image is a few thousand pixels; a full photo is ~12-50 million.
MAX_PIXELS = 64_000_000
# The widest a prepared image is read (px at imgH rows) unless a reader says otherwise.
MAX_WIDTH = 800


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the reason."""


def open_image(source: str | Path | bytes | Image.Image | np.ndarray, name: str | None = None) -> Image.Image:
    """Open a path, encoded bytes, a PIL image or an array, with EXIF orientation applied."""
    name = name or (str(source) if isinstance(source, (str, Path)) else type(source).__name__)
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3):
            raise ImageError(f"{name}: an image array must be HxW or HxWxC, got shape {source.shape}")
        return Image.fromarray(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(
                    f"{name}: {image.width}x{image.height} pixels is over the limit of {MAX_PIXELS} "
                    "(crop the word out of the page first)"
                )
            image.load()
            return ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{name}: not a readable image ({type(err).__name__}: {err})") from None


def to_gray(image: Image.Image) -> np.ndarray:
    """uint8 grayscale pixels of an image in any mode (alpha is laid on white)."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode != "F" and pixels.max(initial=0) > 255:
            pixels = pixels / 257.0  # 16-bit range to 8-bit
        return np.clip(pixels, 0, 255).astype(np.uint8)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.uint8)


def model_width(width: int, height: int, imgH: int, max_width: int) -> int:
    """The width an image gets at height ``imgH`` (aspect kept, at most ``max_width``)."""
    return min(max(1, round(width * imgH / max(height, 1))), max_width)


def image_size(source: str | Path | bytes | Image.Image | np.ndarray) -> tuple[int, int]:
    """An image's (width, height) as it will be read (EXIF orientation applied), from a
    file's header alone; (0, 0) if it cannot be read (the image is reported when it is)."""
    if isinstance(source, Image.Image):
        return source.size
    if isinstance(source, np.ndarray):
        return (source.shape[1], source.shape[0]) if source.ndim in (2, 3) else (0, 0)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            w, h = image.size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF rotations by 90 degrees
                w, h = h, w
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 0, 0
    return w, h


def header_width(source: str | Path | bytes | None, imgH: int, max_width: int) -> int:
    """``model_width`` from the image's header alone (0 if it cannot be read)."""
    w, h = image_size(source)
    return model_width(w, h, imgH, max_width) if w and h else 0


def to_model_input(gray: np.ndarray, imgH: int, max_width: int) -> np.ndarray:
    """Resize to ``imgH`` rows keeping the aspect ratio; wider than ``max_width`` is squeezed."""
    h, w = gray.shape
    if h == 0 or w == 0:
        raise ImageError(f"empty image ({w}x{h})")
    width = model_width(w, h, imgH, max_width)
    if (h, w) == (imgH, width):
        return np.ascontiguousarray(gray)
    resized = Image.fromarray(gray).resize((width, imgH), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def untilt(gray: np.ndarray, degrees: float, margin: float = 0.1) -> np.ndarray | None:
    """The word of ``gray`` levelled, taken as turned by ``degrees`` (anticlockwise: rising
    to the right; up to 90) inside its upright bounding box, as crops of signs photographed
    askew are: the crop is turned back around its centre and cut to the word's own box, whose
    length L and height T follow from the crop's w = L cos + T sin and h = L sin + T cos,
    with ``margin`` x T on each side. A word steeper than 45 degrees is first turned a
    quarter the other way: it then lies at less than 45 in a crop wider than tall. None
    where no word so turned fits the crop."""
    import cv2  # here: reading without tilts (predict.py's start) does without OpenCV

    if abs(degrees) > 45:
        sign = 1 if degrees > 0 else -1
        return untilt(np.ascontiguousarray(np.rot90(gray, -sign)), degrees - sign * 90, margin)
    h, w = gray.shape
    c, s = math.cos(math.radians(abs(degrees))), math.sin(math.radians(abs(degrees)))
    det = c * c - s * s
    if det <= 0.1:  # near 45 degrees length and height cannot be told apart
        return None
    length, thickness = (w * c - h * s) / det, (h * c - w * s) / det
    if length < 4 or thickness < 4:
        return None
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -degrees, 1.0)  # clockwise by degrees
    level = cv2.warpAffine(gray, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    x, y = (w - length) / 2 - margin * thickness, (h - thickness) / 2 - margin * thickness
    left, top = max(0, int(x)), max(0, int(y))
    return np.ascontiguousarray(level[top : h - top, left : w - left])


def text_angle(gray: np.ndarray, limit: float | None = None, step: float = 2.0) -> float:
    """The angle (degrees, anticlockwise: rising to the right, as ``untilt`` takes it) at
    which the lines of ink of ``gray`` lie, from -``limit`` to ``limit`` in steps of
    ``step``: the one across which the image's edges, projected onto rows, pile into the
    fewest (the largest sum of squared row totals), as a levelled line of text does. The
    image is first scaled to 48 rows. ``limit`` None: 30 degrees in an image at least as
    wide as tall, 88 in a taller one (only there can a word lie steeper than 45 degrees)."""
    h, w = gray.shape
    limit = limit if limit is not None else (30.0 if w >= h else 88.0)
    width = max(2, round(w * 48 / h))  # np.gradient needs two columns
    small = np.asarray(Image.fromarray(gray).resize((width, 48), Image.BILINEAR), dtype=np.float32)
    dy, dx = np.gradient(small)
    edges = np.hypot(dx, dy).ravel()
    ys, xs = np.mgrid[0:48, 0:width]
    ys, xs = (ys - 24).ravel(), (xs - width // 2).ravel()  # whole numbers: at 0 degrees a row is a row
    reach = int(math.hypot(48, width)) + 1
    angles = sorted(np.arange(-limit, limit + step / 2, step), key=abs)  # ties: the nearest level
    piles = []
    for angle in np.radians(angles):  # a row of the levelled image: y cos + x sin constant
        rows = np.rint(ys * math.cos(angle) + xs * math.sin(angle)).astype(np.int64) + reach
        piles.append(float((np.bincount(rows, weights=edges, minlength=2 * reach + 1) ** 2).sum()))
    return float(angles[int(np.argmax(piles))])


def pad_to_width(image: np.ndarray, width: int) -> np.ndarray:
    """Pad on the right with the image's right-edge colour up to ``width`` columns."""
    missing = width - image.shape[1]
    if missing <= 0:
        return image
    edge = np.full((image.shape[0], missing), int(np.median(image[:, -1])), dtype=np.uint8)
    return np.concatenate([image, edge], axis=1)


def batch_height(images: Sequence[np.ndarray]) -> int:
    """The one height of a batch's images; a ValueError if they differ."""
    heights = {image.shape[0] for image in images}
    if len(heights) > 1:
        raise ValueError(f"a batch mixes image heights {sorted(heights)}; resize to imgH first")
    return heights.pop()


def padded_width(widths, multiple: int = 8) -> int:
    """The width of a batch of images ``widths`` wide: each followed by at least
    ``MARGIN`` columns (see ``ocr.geometry``), rounded up to a multiple of ``multiple``."""
    return -(-(int(max(widths)) + MARGIN) // multiple) * multiple


def pad_batch(images: list[np.ndarray], multiple: int = 8) -> np.ndarray:
    """Stack same-height images into ``(B, 1, H, W)`` uint8, each padded on the right
    with its background (the median of its last column) to ``padded_width``: every
    image's frames are then what it gives alone."""
    height = batch_height(images)
    width = padded_width([image.shape[1] for image in images], multiple)
    backgrounds = np.median(np.stack([image[:, -1] for image in images]), axis=1).astype(np.uint8)
    batch = np.repeat(backgrounds, height * width).reshape(len(images), 1, height, width)
    for row, image in zip(batch, images):
        row[0, :, : image.shape[1]] = image
    return batch


def read_image(source, imgH: int, max_width: int, name: str | None = None) -> np.ndarray:
    """Open, convert and resize in one call; raises ImageError naming the file."""
    try:
        return to_model_input(to_gray(open_image(source, name)), imgH, max_width)
    except ImageError as err:
        if name and not str(err).startswith(name):
            raise ImageError(f"{name}: {err}") from None
        raise
