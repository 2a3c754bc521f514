"""Fonts to render with, and the check that a font draws an alphabet faithfully.

A font is unfaithful to an alphabet when it lacks a glyph for one of its characters
(draws nothing, or the same box as a private-use code point) or when it draws lower
case as capitals (BEBAS, Capture it, Amatic SC, ...): rendering the word ``fore`` as
``FORE`` under the label ``fore`` is label noise. Such a font is faithful to the texts
without lower-case letters (``FORE``, ``2024``), and draws those when ``data.capitals`` is
on (``capitals_fonts``); an alphabet without lower case never flags it. A few fonts map
the ASCII code points to other symbols (Greek, dingbats, maths); no check on the rendered
shapes separates them from script fonts, so they are known by name (``SYMBOL_FONTS``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import multiprocessing
import os
from pathlib import Path

import fontTools
import numpy as np
import PIL
from PIL import Image, ImageFont, features

from ocr.data.trdg_compat import trdg_folder
from ocr.files import cache_key, write_json

log = logging.getLogger(__name__)

# Lower-case letters whose shapes differ from their capitals in ordinary fonts.
_DISTINCT_CASE = "abdeghnqrt"
# Median shape correlation between these letters and their capitals above which a font
# draws lower case as (small) capitals: ordinary fonts measure below 0.5 and the
# capitals-only fonts that trdg ships above 0.69.
_CAPS_CORRELATION = 0.6
# Font files (by name, without suffix) that draw other symbols at the ASCII code points:
# Computer Modern's maths fonts (matplotlib), ReportLab's test fonts, URW's dingbats and
# symbol fonts (Ghostscript, TeX and Debian installs). Computer Modern's text italic draws
# a pound sign for the dollar.
SYMBOL_FONTS = frozenset(
    {"cmex10", "cmsy10", "cmmi10", "cmti10", "zx______", "zy______", "D050000L", "StandardSymbolsPS"}
)
# Fonts that map every code point to a box showing its Unicode block (matplotlib ships one).
FALLBACK_FONTS = frozenset({"LastResortHE-Regular"})
# The problem of a font that draws lower case as capitals (the only one ``capitals_fonts`` allows).
CAPITALS = "draws lower case as capitals"
# The outline formats FreeType reads and a collection is searched for (Type 1 as .pfb).
FONT_SUFFIXES = (".ttf", ".otf", ".pfb")
# Raise when ``font_problems`` changes: the checks kept in a cache folder are then made again.
CHECK_VERSION = 1
FONTS_PER_WORKER = 64  # fewer to a core: a process pool's start outweighs its gain


def trdg_fonts_dir() -> Path:
    return trdg_folder("fonts", "latin")


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


def _character_map(path: str | Path) -> set[int] | None:
    """The code points a TrueType or OpenType font maps to glyphs (None for Type 1 fonts,
    which have no such table): a character outside it is drawn with a fallback glyph, a
    box or another letter, however it looks."""
    if Path(path).suffix.lower() == ".pfb":
        return None
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(str(path), fontNumber=0, lazy=True) as font:
            return set(font.getBestCmap() or {})
    except (TTLibError, OSError, AssertionError):
        return None


def font_problems(path: str | Path, alphabet: str) -> list[str]:
    """Why ``path`` cannot render ``alphabet`` faithfully; empty when it can."""
    if Path(path).stem in SYMBOL_FONTS:
        return ["draws symbols for ASCII characters (a known symbol font)"]
    if Path(path).stem in FALLBACK_FONTS:
        return ["draws one box per Unicode block for every character (a last-resort font)"]
    try:
        font = ImageFont.truetype(str(path), 48)
    except OSError as err:
        return [f"cannot be loaded ({err})"]
    notdef = _glyph(font, "\ue000")
    mapped = _character_map(path)
    missing = []
    for char in dict.fromkeys(alphabet):
        if char.isspace():
            continue
        if mapped is not None and ord(char) not in mapped:  # what it would draw is a fallback
            missing.append(char)
            continue
        glyph = _glyph(font, char)
        if glyph.max(initial=0) == 0 or (notdef.max(initial=0) > 0 and np.array_equal(glyph, notdef)):
            missing.append(char)
    problems = [_no_glyph(missing)] if missing else []
    correlations = []
    for lower in _DISTINCT_CASE:
        if lower in alphabet:
            a, b = _shape(font, lower), _shape(font, lower.upper())
            if a is not None and b is not None:
                correlations.append(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    if correlations and np.median(correlations) > _CAPS_CORRELATION:
        problems.append(CAPITALS)
    return problems


def _no_glyph(missing: list[str], shown: int = 40) -> str:
    """The problem of a font without glyphs for ``missing``: all of them, or the first
    ``shown`` and how many (a Chinese alphabet's list would fill a screen per font)."""
    if len(missing) <= shown:
        return f"has no glyph for {''.join(missing)!r}"
    return f"has no glyph for {len(missing)} characters, {''.join(missing[:shown])!r} ..."


def check_fonts(paths: list[Path], alphabet: str) -> dict[Path, list[str]]:
    """``font_problems`` of each of ``paths`` with ``alphabet``, in order: across the CPU's
    cores where there are ``FONTS_PER_WORKER`` fonts a core or more (not from a daemonic
    process, a data loader's worker, which cannot start processes)."""
    workers = min(os.cpu_count() or 1, len(paths) // FONTS_PER_WORKER)
    if workers < 2 or multiprocessing.current_process().daemon:
        return {path: font_problems(path, alphabet) for path in paths}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        found = pool.starmap(font_problems, [(path, alphabet) for path in paths], chunksize=FONTS_PER_WORKER // 4)
    return dict(zip(paths, found))


def checks_file(cache_dir: str, folder: Path, paths: list[Path], alphabet: str) -> Path:
    """Where the checks of the fonts ``paths`` of ``folder`` with ``alphabet`` are kept in
    ``cache_dir``: named by everything they depend on (each file's size and time, the check's
    version and thresholds, the libraries that read the fonts)."""
    stats = [os.stat(path) for path in paths]
    files = [(str(path), stat.st_size, stat.st_mtime_ns) for path, stat in zip(paths, stats)]
    versions = [CHECK_VERSION, _CAPS_CORRELATION, sorted(SYMBOL_FONTS), sorted(FALLBACK_FONTS)]
    versions += [PIL.__version__, features.version("freetype2"), fontTools.version]
    return Path(cache_dir) / "font_checks" / f"{folder.name}-{cache_key([files, alphabet, versions])}.json"


def _kept_checks(file: Path, paths: list[Path]) -> dict[Path, list[str]] | None:
    """The checks a run kept in ``file`` (None: none, or not of these fonts)."""
    try:
        kept = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("%s: unreadable (%s), the fonts are checked again", file, error)
        return None
    if not isinstance(kept, dict) or sorted(kept) != sorted(map(str, paths)):
        return None
    return {path: list(kept[str(path)]) for path in paths}


@functools.lru_cache(maxsize=32)
def _checked(alphabet: str, fonts_dir: str | None, cache_dir: str | None = None) -> dict[Path, list[str]]:
    """Each font file (``FONT_SUFFIXES``) in ``fonts_dir`` and its subfolders (trdg's Latin
    fonts by default), sorted by path, with its problems with ``alphabet``; of a font
    shipped in several formats, one file. Logs what is left out, and why. With a
    ``cache_dir``, the checks are kept there (``checks_file``) and read by later runs:
    checking 1,464 fonts takes 25 s of one core."""
    folder = Path(fonts_dir) if fonts_dir else trdg_fonts_dir()
    by_stem = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in FONT_SUFFIXES:
            by_stem.setdefault(path.with_suffix(""), path)
    paths = list(by_stem.values())
    file = checks_file(cache_dir, folder, paths, alphabet) if cache_dir else None
    problems = _kept_checks(file, paths) if file else None
    if problems is None:
        problems = check_fonts(paths, alphabet)
        if file:
            try:
                write_json(file, {str(path): found for path, found in problems.items()})
            except OSError as error:
                log.warning("%s: cannot keep the fonts' checks there (%s)", file, error)
    good = sum(not found for found in problems.values())
    if not good:
        raise ValueError(f"no font in {folder} draws every character of the alphabet {alphabet!r}")
    left = [f"{path.name} ({' and '.join(found)})" for path, found in problems.items() if found]
    if left:
        more = f" and {len(left) - 3} more" if len(left) > 3 else ""
        shown = ", ".join(left[:3])
        log.info("fonts in %s: %d of %d draw the alphabet; left out %s%s", folder, good, len(paths), shown, more)
    return problems


def faithful_fonts(alphabet: str, fonts_dir: str | None = None, cache_dir: str | None = None) -> tuple[str, ...]:
    """The font files in ``fonts_dir`` (see ``_checked``) that draw every character of
    ``alphabet`` as itself."""
    return tuple(str(path) for path, found in _checked(alphabet, fonts_dir, cache_dir).items() if not found)


def capitals_fonts(alphabet: str, fonts_dir: str | None = None, cache_dir: str | None = None) -> tuple[str, ...]:
    """The font files in ``fonts_dir`` that draw every character of ``alphabet``, its lower
    case as capitals: faithful to the texts without lower-case letters."""
    checked = _checked(alphabet, fonts_dir, cache_dir)
    return tuple(str(path) for path, found in checked.items() if found == [CAPITALS])


@functools.lru_cache(maxsize=8)
def font_families(fonts: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """``fonts`` grouped by family (the family name FreeType reads from each file: a face's
    weights and styles together), in the order of their first file."""
    families: dict[str, list[str]] = {}
    for path in fonts:
        families.setdefault(ImageFont.truetype(path, 12).getname()[0] or path, []).append(path)
    return tuple(tuple(paths) for paths in families.values())


def font_folder(name: str) -> Path | None:
    """The folder a collection of fonts is named by: ``trdg`` (its Latin fonts), ``trdg:cn``
    or ``trdg:ja`` (its Chinese and Japanese font), a folder path, or an installed Python
    package that ships fonts (``font_source_serif_pro`` and the other ``font_*`` packages
    keep them in ``files/``; ``reportlab``, ``matplotlib``, ``rendercv_fonts``: anywhere in
    the package); None for anything else."""
    if name == "trdg":
        return trdg_fonts_dir()
    if name in ("trdg:cn", "trdg:ja"):
        return trdg_folder("fonts", name[len("trdg:") :])
    if Path(name).is_dir():
        return Path(name)
    spec = importlib.util.find_spec(name) if name.isidentifier() else None
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        return package / "files" if (package / "files").is_dir() else package
    return None


def resolve_fonts(fonts: list[str] | None, alphabet: str, cache_dir: str | None = None) -> tuple[str, ...]:
    """Font files from config: ``None`` means every faithful trdg Latin font. Each entry
    is a collection (see ``font_folder``: its faithful fonts are used), a font file, or a
    trdg font's file name. Unfaithful fonts named one by one are an error, since the user
    asked for them. A collection's checks are kept in ``cache_dir`` (see ``_checked``)."""
    if not fonts:
        return faithful_fonts(alphabet, None, cache_dir)
    resolved = []
    for name in fonts:
        folder = font_folder(name)
        if folder is not None:
            resolved.extend(faithful_fonts(alphabet, str(folder), cache_dir))
            continue
        path = Path(name)
        if not path.exists() and path.parent == Path("."):
            path = trdg_fonts_dir() / name
        if not path.exists():
            raise FileNotFoundError(
                f"font {name!r} not found (give a .ttf/.otf/.pfb file, a trdg font name, a folder, "
                "or an installed package that carries fonts, such as font_source_serif_pro or reportlab; "
                "Google Fonts families are fetched with `make fonts` (experiments hindi, chinese), "
                "`make english-fonts` (experiment=english_fonts) or `python -m ocr.data.fetch fonts FAMILY` "
                "(into data/fonts/FAMILY, or --into another folder))"
            )
        problems = font_problems(path, alphabet)
        if problems:
            raise ValueError(
                f"font {path} cannot render the alphabet: it {' and '.join(problems)} (data.fonts names the fonts; "
                "[matplotlib]: DejaVu's, which draw Latin, Greek, Cyrillic and Arabic)"
            )
        resolved.append(str(path))
    return tuple(dict.fromkeys(resolved))


def resolve_capitals(fonts: list[str] | None, alphabet: str, cache_dir: str | None = None) -> tuple[str, ...]:
    """The fonts of the collections in ``fonts`` (as ``resolve_fonts`` reads them) that draw
    lower case as capitals and the alphabet otherwise (``capitals_fonts``); fonts named one
    by one are checked whole by ``resolve_fonts``."""
    folders = [str(folder) for folder in map(font_folder, fonts) if folder is not None] if fonts else [None]
    found = (path for folder in folders for path in capitals_fonts(alphabet, folder, cache_dir))
    capitals = tuple(dict.fromkeys(found))
    log.info("%d fonts that draw lower case as capitals draw the texts without lower case too", len(capitals))
    return capitals
