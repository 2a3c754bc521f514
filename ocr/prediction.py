"""``predict(cfg)``: what ``python predict.py`` does. Imports no torch for ONNX models."""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import logging
import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ocr.data.images import ImageError
from ocr.data.labels import IMAGE_SUFFIXES
from ocr.files import atomic_write, tsv_lines
from ocr.recognizer import Recognizer, view_options

log = logging.getLogger(__name__)


def expand_inputs(inputs: str | list[str]) -> list[Path]:
    """Image paths from a file, a folder (searched recursively), a glob, or a ``.txt``
    file of paths (one per line, relative to the text file; a line's first tab ends its
    path, so a ``gt.txt`` of ``path<TAB>label`` lines lists its images); several of them
    in a list."""
    paths: list[Path] = []
    for item in [inputs] if isinstance(inputs, (str, Path)) else inputs:
        item = str(item)
        path = Path(item).expanduser()
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.suffix.lower() == ".txt" and path.is_file():
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            paths += [path.parent / line.split("\t")[0].strip() for line in lines if line.strip()]
        elif path.exists():
            paths.append(path)
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise FileNotFoundError(f"inputs={item}: no such file, folder or matching images")
            paths += [Path(m) for m in matches]
    return paths


def predict(cfg) -> list[tuple[str, str, float]]:
    """Read every input image; print ``file<TAB>text<TAB>confidence`` lines, or write them
    to ``cfg.output``. File names and texts holding a tab, a newline or a quote are quoted
    (CSV rules). Unreadable files are reported on stderr and skipped; if none could be
    read, that is an error (and no output file is written).

    ``cfg.output`` appears only whole: the readings go to ``<output>.partial`` as they are
    made, a chunk at a time, and it is renamed when every image is read. A killed run
    keeps them there, and the same command goes on from them: what they hold is not read
    again."""
    paths = expand_inputs(cfg.inputs)  # a wrong path is said before the model loads
    recognizer = Recognizer.load(
        cfg.ckpt_path,
        device=cfg.get("device"),
        precision=cfg.precision,
        batch_size=cfg.batch_size,
        max_width=cfg.max_width,
        decode=dict(cfg.decode),
        **view_options(cfg),
    )
    if not cfg.get("output"):
        rows = read_all(recognizer, paths, sys.stdout, cfg)
        check_some_read(paths, rows, cfg.inputs)
        return rows
    output = Path(cfg.output)
    partial = output.with_name(output.name + ".partial")
    output.parent.mkdir(parents=True, exist_ok=True)
    done = earlier_readings(partial, {str(path) for path in paths})
    if done:
        print(f"{partial}: {len(done)} of {len(paths)} images read before; reading the rest", file=sys.stderr)
    with open(partial, "a", encoding="utf-8", newline="") as out:
        rows = read_all(recognizer, [path for path in paths if str(path) not in done], out, cfg)
    rows = [*done.values(), *rows]
    if not rows:
        partial.unlink()
    check_some_read(paths, rows, cfg.inputs)
    os.replace(partial, output)
    return rows


def check_some_read(paths: list[Path], rows: list, inputs) -> None:
    if paths and not rows:
        raise ValueError(f"inputs={inputs}: none of the {len(paths)} images could be read (see above)")


def read_all(recognizer: Recognizer, paths: list[Path], out, cfg) -> list[tuple[str, str, float]]:
    """Read ``paths`` a chunk at a time, writing each chunk's lines to ``out`` (to disk,
    for a file) before the next one is read."""
    rows: list[tuple[str, str, float]] = []
    failed = 0
    with tqdm(
        total=len(paths), desc="read", unit="img", disable=len(paths) < cfg.progress_from, file=sys.stderr
    ) as bar:
        for start in range(0, len(paths), cfg.chunk):
            chunk = paths[start : start + cfg.chunk]
            kept, images = [], []
            for path in chunk:
                try:
                    images.append(recognizer.prepare(path, name=str(path)))
                    kept.append(path)
                except ImageError as err:
                    failed += 1
                    print(f"skipped: {err}", file=sys.stderr)
            readings = recognizer.read_turned(recognizer.read_prepared(images), kept) if images else []
            read = [(str(path), r.text, r.confidence) for path, r in zip(kept, readings)]
            out.write(reading_lines(read))
            out.flush()
            if out.seekable():  # a file, not a terminal or a pipe
                os.fsync(out.fileno())
            rows.extend(read)
            bar.update(len(chunk))
    if failed:
        print(f"{failed} of {len(paths)} files could not be read (see above)", file=sys.stderr)
    return rows


def earlier_readings(partial: Path, wanted: set[str]) -> dict[str, tuple[str, str, float]]:
    """The readings of ``wanted`` files that a killed run left in ``partial``, by file name.
    Only whole lines count: the file is cut back to them (a kill can cut the last one)."""
    if not partial.is_file():
        return {}
    text = partial.read_text(encoding="utf-8")
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=True)
    with contextlib.suppress(csv.Error):  # a quoted field cut by the kill
        rows.extend(reader)
    if rows and not text.endswith("\n"):
        rows.pop()  # its last line was cut
    done = {}
    for row in rows:
        if len(row) == 3 and row[0] in wanted:
            with contextlib.suppress(ValueError):  # a confidence garbled by hand
                done[row[0]] = (row[0], row[1], float(row[2]))
    atomic_write(partial, lambda f: f.write(reading_lines(done.values())), "w")
    return done


def reading_lines(readings) -> str:
    """``file<TAB>text<TAB>confidence`` lines, as predict.py prints and writes them."""
    return tsv_lines((name, text, f"{confidence:.4f}") for name, text, confidence in readings)
