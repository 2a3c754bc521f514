"""Labelled word sets as a model reads them, small enough to travel (docs/gpu.md).

    python benchmarks/pack_sets.py OUT SET_DIR [SET_DIR ...] [--height 32]

Each ``SET_DIR`` (a folder with a ``gt.txt``) becomes ``OUT/<its name>``: every image
converted as the model converts it (grey, ``--height`` rows, the aspect kept, at most
``MAX_WIDTH`` columns wide) and saved as PNG, with a ``gt.txt`` of the same labels. Read
with ``data=folder`` by a model of that height, each image is the input its original gives,
pixel for pixel (readings turned a quarter or levelled by ``tilts`` start from fewer pixels).
The four real sets (7,372 crops, 54 MB of JPEG) pack into 11 MB at 32 rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr.data.images import MAX_WIDTH, ImageError, read_image  # noqa: E402
from ocr.data.labels import read_gt_file  # noqa: E402


def pack(source: Path, target: Path, height: int) -> tuple[int, list[str]]:
    """Write ``source``'s images at ``height`` rows into ``target``; returns how many were
    written and the images that could not be read (left out, named)."""
    target.mkdir(parents=True, exist_ok=True)
    lines, unreadable = [], []
    for number, (path, label, *_) in enumerate(read_gt_file(source)):
        try:
            pixels = read_image(source / path, height, MAX_WIDTH, name=str(source / path))
        except (ImageError, OSError) as err:
            unreadable.append(str(err))
            continue
        name = f"{number:06d}.png"
        Image.fromarray(pixels).save(target / name, optimize=True)
        lines.append(f"{name}\t{label}\n")
    (target / "gt.txt").write_text("".join(lines), encoding="utf-8")
    return len(lines), unreadable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("sets", type=Path, nargs="+")
    parser.add_argument("--height", type=int, default=32, help="the model's imgH (32 for the shipped models)")
    args = parser.parse_args()
    for source in args.sets:
        written, unreadable = pack(source, args.out / source.name, args.height)
        size = sum(f.stat().st_size for f in (args.out / source.name).iterdir())
        print(f"{source.name}: {written} images, {size / 1e6:.1f} MB")
        for message in unreadable:
            print(f"  left out: {message}")


if __name__ == "__main__":
    main()
