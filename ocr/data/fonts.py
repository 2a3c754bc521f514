"""Fonts to render with, and the check that a font draws an alphabet faithfully.

A font is unfaithful to an alphabet when it lacks a glyph for one of its characters
(draws nothing, or the same box as a private-use code point) or when it draws lower
case as capitals (BEBAS, Capture it, Amatic SC, ...): rendering the word ``fore`` as
``FORE`` under the label ``fore`` is label noise.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageFont

# Lower-case letters whose shapes differ from their capitals in ordinary fonts.
_DISTINCT_CASE = "abdeghnqrt"
# Median shape correlation between these letters and their capitals above which a font
# draws lower case as (small) capitals: ordinary fonts measure below 0.5 and the
# capitals-only fonts that trdg ships above 0.69.
_CAPS_CORRELATION = 0.6


def trdg_fonts_dir() -> Path:
    import trdg

    return Path(trdg.__file__).parent / "fonts" / "latin"


def _glyph(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    mask = font.getmask(char)
    return np.asarray(mask, dtype=np.uint8).reshape(mask.size[1], mask.size[0])


def _shape(font: ImageFont.FreeTypeFont, char: str, size: int = 24) -> np.ndarray | None:
    glyph = _glyph(font, char)
    ys, xs = np.nonzero(glyph > 64)
    if len(ys) == 0:
        return None
    crop = glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BILINEAR), np.float32)


def font_problems(path: str | Path, alphabet: str) -> list[str]:
    """Why ``path`` cannot render ``alphabet`` faithfully; empty when it can."""
    try:
        font = ImageFont.truetype(str(path), 48)
    except OSError as err:
        return [f"cannot be loaded ({err})"]
    notdef = _glyph(font, "\ue000")
    missing = []
    for char in dict.fromkeys(alphabet):
        if char.isspace():
            continue
        glyph = _glyph(font, char)
        if glyph.max(initial=0) == 0 or (notdef.max(initial=0) > 0 and np.array_equal(glyph, notdef)):
            missing.append(char)
    problems = [f"has no glyph for {''.join(missing)!r}"] if missing else []
    correlations = []
    for lower in _DISTINCT_CASE:
        if lower in alphabet or lower.upper() in alphabet:
            a, b = _shape(font, lower), _shape(font, lower.upper())
            if a is not None and b is not None:
                correlations.append(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    if correlations and np.median(correlations) > _CAPS_CORRELATION:
        problems.append("draws lower case as capitals")
    return problems


@functools.lru_cache(maxsize=8)
def faithful_fonts(alphabet: str, fonts_dir: str | None = None) -> tuple[str, ...]:
    """The ``.ttf``/``.otf`` files of ``fonts_dir`` (trdg's Latin fonts by default) that
    draw every character of ``alphabet`` as itself, sorted by name."""
    folder = Path(fonts_dir) if fonts_dir else trdg_fonts_dir()
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".ttf", ".otf"))
    good = tuple(str(p) for p in paths if not font_problems(p, alphabet))
    if not good:
        raise ValueError(f"no font in {folder} draws every character of the alphabet {alphabet!r}")
    return good


def resolve_fonts(fonts: list[str] | None, alphabet: str) -> tuple[str, ...]:
    """Font files from config: ``None`` means every faithful trdg Latin font; names
    without a folder are looked up among trdg's fonts. Unfaithful fonts named explicitly
    are an error, since the user asked for them."""
    if not fonts:
        return faithful_fonts(alphabet)
    resolved = []
    for name in fonts:
        path = Path(name)
        if not path.exists() and path.parent == Path("."):
            path = trdg_fonts_dir() / name
        if not path.exists():
            raise FileNotFoundError(f"font {name!r} not found (give a path to a .ttf file or a trdg font name)")
        problems = font_problems(path, alphabet)
        if problems:
            raise ValueError(f"font {path} cannot render the alphabet: it {' and '.join(problems)}")
        resolved.append(str(path))
    return tuple(resolved)
