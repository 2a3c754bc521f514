"""Label files users bring, parsed strictly and screened with every problem counted.

Problems that lose a sample (a missing image, a duplicate, an empty label, a label too
long for the widest image, a path leaving the dataset's folder, characters outside the
alphabet with ``unknown_chars=skip``) are skipped and reported in one summary; problems
that make the file unreadable (not UTF-8, a line without a label) are errors naming the
file and line. Labels are read in Unicode's composed form (``ocr.text.nfc``); image paths
are kept as written, as the file system spells them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from ocr.geometry import min_frames, output_frames
from ocr.text import nfc

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}

Entry = tuple[str, str, str]  # (path relative to the root, label, where it was read: "file:line")


class LabelFileError(ValueError):
    pass


def _lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LabelFileError(f"{path}: no such label file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise LabelFileError(
            f"{path}:{line}: not UTF-8 ({err.reason} at byte {err.start}); save the file as UTF-8"
        ) from None
    # Lines end at "\n" (or "\r\n") only: labels may hold other Unicode line separators.
    return [line.removesuffix("\r") for line in text.split("\n")]


def _pairs(path: Path, separator: str, expected: str) -> list[Entry]:
    """Non-blank lines of ``path`` split at the first ``separator`` into (file, label)."""
    entries = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        if separator not in line:
            raise LabelFileError(f"{path}:{number}: expected {expected!r}, got {line[:80]!r}")
        file, label = line.split(separator, 1)
        entries.append((file.strip(), nfc(label), f"{path}:{number}"))
    return entries


def read_gt_file(root: Path, gt_file: str = "gt.txt") -> list[Entry]:
    """``<relative path>\\t<label>`` per line (deep-text-recognition-benchmark, PaddleOCR)."""
    return _pairs(root / gt_file, "\t", "<image path><TAB><label>")


def read_trdg_folder(root: Path) -> list[Entry]:
    """trdg's output: ``labels.txt`` (``-na 2``: ``<file> <label>``) when present, else
    labels in file names ``<label>_<n>.<ext>`` (trdg's default ``-na 0``)."""
    labels_file = root / "labels.txt"
    if labels_file.exists():
        return _pairs(labels_file, " ", "<file> <label>")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and "_" in p.stem)
    if not files:
        raise LabelFileError(f"{root}: no labels.txt and no images named '<label>_<n>.<ext>'")
    return [(p.name, nfc(p.stem.rsplit("_", 1)[0]), str(p)) for p in files]


def check_folders(data) -> None:
    """The folders a data config names (``root``, ``test_root``, ``real_roots``) exist and
    hold their label files; else an error naming the first that does not (no torch needed:
    it runs before the heavy imports, and before anything renders)."""
    for key in ("root", "test_root", "real_roots"):
        if not data or key not in data:  # (a config's mandatory ??? value is not "in" it)
            continue
        value = data.get(key)
        for folder in [value] if isinstance(value, str) else list(value or []):
            folder = Path(folder).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(f"data.{key}={folder}: no such folder")
            gt_file = folder / data.get("gt_file", "gt.txt")
            if data.get("format", "gt") == "gt" and not gt_file.is_file():
                raise FileNotFoundError(f"data.{key}={folder}: no {gt_file.name} (lines of <image path><TAB><label>)")


def read_labels(root: Path, format: str, gt_file: str = "gt.txt") -> list[Entry]:
    """The entries of a labelled folder in ``format``: ``gt`` (a ``gt_file``) or ``trdg``."""
    if format == "gt":
        return read_gt_file(root, gt_file)
    if format == "trdg":
        return read_trdg_folder(root)
    raise ValueError(f"a label format is gt or trdg, got {format!r}")


def screen(
    entries: list[Entry], root: Path, alphabet: str, unknown_chars: str, max_width: int, keep_missing: bool = False
) -> list[tuple[str, str]]:
    """Absolute image paths with their labels, for the entries of a folder that can be used
    (see ``screen_labels``); paths must stay inside ``root``, exist and appear once.
    ``keep_missing`` (test data): missing images stay, to be counted as wrong readings."""
    root = root.resolve()
    problems: dict[str, list[str]] = defaultdict(list)
    located, seen = [], set()
    for file, label, where in entries:
        path = (root / file).resolve()
        if not path.is_relative_to(root):
            problems["paths outside the dataset folder"].append(f"{where} {file!r}")
        elif path in seen:
            problems["duplicate entries"].append(f"{where} {file!r}")
        elif not path.is_file() and not keep_missing:
            problems["missing images"].append(f"{where} {file!r}")
        else:
            located.append((str(path), label, where))
        seen.add(path)
    return screen_labels(located, str(root), alphabet, unknown_chars, max_width, problems, len(entries))


def screen_labels(
    entries: list[Entry],
    source: str,
    alphabet: str,
    unknown_chars: str,
    max_width: int,
    problems: dict[str, list[str]] | None = None,
    total: int | None = None,
) -> list[tuple[str, str]]:
    """``(key, label)`` for the entries whose labels can be trained on.

    ``unknown_chars``: labels with characters outside the alphabet are an ``error``, or
    ``skip``ped, or (test data, where they are simply scored as errors) ``keep``t; test data
    keeps labels too long for ``max_width`` too.
    """
    if unknown_chars not in ("error", "skip", "keep"):
        raise ValueError(f"data.unknown_chars must be 'error' or 'skip', got {unknown_chars!r}")
    problems = problems if problems is not None else defaultdict(list)
    allowed, longest = set(alphabet), output_frames(max_width)
    kept = []
    for key, label, where in entries:
        if not label:
            problems["empty labels"].append(where)
        elif not set(label) <= allowed and unknown_chars != "keep":
            extra = "".join(sorted(set(label) - allowed))
            problems["labels with characters outside the alphabet"].append(f"{where} {label!r} ({extra!r})")
        elif min_frames(label) > longest and unknown_chars != "keep":
            problems[f"labels too long for max_width={max_width}"].append(f"{where} {label!r}")
        else:
            kept.append((key, label))
    unknown = problems.get("labels with characters outside the alphabet")
    if unknown and unknown_chars == "error":
        raise LabelFileError(
            f"{len(unknown)} labels in {source} have characters outside the alphabet, e.g. "
            f"{'; '.join(unknown[:5])}. Add them to model.alphabet or set data.unknown_chars=skip."
        )
    total = len(entries) if total is None else total
    if problems:
        details = "; ".join(f"{len(v)} {k} (e.g. {', '.join(v[:3])})" for k, v in problems.items())
        log.warning("%s: kept %d of %d entries; skipped %s", source, len(kept), total, details)
    if not kept:
        raise LabelFileError(f"{source}: no usable entries out of {total}")
    return kept
