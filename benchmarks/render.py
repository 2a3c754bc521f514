"""Images per second of each renderer for experiment=english's look, on every core.

    python benchmarks/render.py [--count 4000] [--photos path/to/photos]

Renders the same words with the same fonts and style, once per renderer (``layered``:
trdg draws the text; ``pillow``: ocr/data/draw.py does), into fresh stores with one
process per core, and prints images/s and the ratio to ``layered``. With ``--photos``,
also the ``pillow`` renderer with half of the backgrounds parts of those photographs
(experiment=english_photo). Figures go to docs/data.md with the machine and commit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omegaconf import OmegaConf  # noqa: E402

from ocr.config import compose_config  # noqa: E402
from ocr.data.fonts import resolve_fonts  # noqa: E402
from ocr.data.render import RenderJob, Style, render_store  # noqa: E402
from ocr.data.synth import SynthSets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4000, help="images per renderer")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of photographs")
    parser.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/render.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config("train", ["experiment=english"], Path(tmp) / "run")
        data = OmegaConf.to_container(cfg.data, resolve=True)
        sets = SynthSets(**SynthSets.options({**data, "cache_dir": tmp, "count": args.count}))
        words = sets.jobs()["train"].words
        fonts = tuple(resolve_fonts(data["fonts"], cfg.model.alphabet))
        styles = {name: {**data["style"], "renderer": name} for name in ("layered", "pillow")}
        if args.photos:
            overrides = ["experiment=english_photo", f"data.style.photos=[{args.photos}]"]
            photo = compose_config("train", overrides, Path(tmp) / "photo").data.style
            styles["pillow, photos"] = OmegaConf.to_container(photo, resolve=True)
        rates = {}
        for name, style in styles.items():
            job = RenderJob(words, fonts, Style(**style), seed=1, imgH=cfg.model.imgH, max_width=800)
            start = time.perf_counter()
            render_store(job, Path(tmp) / name.replace(", ", "-"), workers=args.workers, desc=name)
            rates[name] = args.count / (time.perf_counter() - start)
    cores = args.workers or os.cpu_count()
    print(f"{args.count} images each, {cores} processes")
    for name, rate in rates.items():
        print(f"{name:16s} {rate:8.0f} images/s  {rate / rates['layered']:5.2f} x layered")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"count": args.count, "processes": cores, "images_per_s": rates}, indent=2))


if __name__ == "__main__":
    main()
