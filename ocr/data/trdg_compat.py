"""trdg 1.8.0 (2022, its last release) on a current Pillow.

trdg calls ``FreeTypeFont.getsize`` and ``Image.ANTIALIAS``, which Pillow 10 removed.
Rather than pin Pillow below 10 (an image decoder with known CVEs that will read users'
files), the two names are restored from their modern equivalents before trdg is
imported. ``FakeTextDataGenerator`` is imported directly: ``trdg.generators`` would pull
in wikipedia, requests, bs4, arabic_reshaper and bidi, none of which rendering needs.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from PIL import Image, ImageFont


def trdg_folder(*parts: str) -> Path:
    """A folder of the data trdg ships: ``fonts/latin``, ``dicts``, ``images``."""
    import trdg

    return Path(trdg.__file__).parent.joinpath(*parts)


def _getsize(self: ImageFont.FreeTypeFont, text: str, *args, **kwargs) -> tuple[int, int]:
    # Pillow 9's getsize returned the far corner of the text's bounding box.
    _, _, right, bottom = self.getbbox(text, *args, **kwargs)
    return right, bottom


def patch_pillow() -> None:
    if not hasattr(ImageFont.FreeTypeFont, "getsize"):
        ImageFont.FreeTypeFont.getsize = _getsize
    if not hasattr(Image, "ANTIALIAS"):
        Image.ANTIALIAS = Image.Resampling.LANCZOS


def fake_text_generator():
    """trdg's per-image renderer, imported quietly (it prints about optional modules)."""
    patch_pillow()
    with contextlib.redirect_stdout(io.StringIO()):
        from trdg.data_generator import FakeTextDataGenerator
    return FakeTextDataGenerator
