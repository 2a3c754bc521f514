"""``predict(cfg)``: what ``python predict.py`` does. Imports no torch for ONNX models."""

from __future__ import annotations

import glob
import logging
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
    file of paths (one per line, relative to the text file); several of them in a list."""
    paths: list[Path] = []
    for item in [inputs] if isinstance(inputs, (str, Path)) else inputs:
        item = str(item)
        path = Path(item).expanduser()
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.suffix.lower() == ".txt" and path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            paths += [path.parent / line.strip() for line in lines if line.strip()]
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
    to ``cfg.output`` (complete or not at all: through a temporary file). File names and
    texts holding a tab, a newline or a quote are quoted (CSV rules). Unreadable files
    are reported on stderr and skipped."""
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
    rows: list[tuple[str, str, float]] = []

    def read_all(out) -> None:
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
                out.write(tsv_lines((name, text, f"{confidence:.4f}") for name, text, confidence in read))
                rows.extend(read)
                bar.update(len(chunk))
        if failed:
            print(f"{failed} of {len(paths)} files could not be read (see above)", file=sys.stderr)

    if cfg.get("output"):
        atomic_write(Path(cfg.output), read_all, "w")
    else:
        read_all(sys.stdout)
    return rows
