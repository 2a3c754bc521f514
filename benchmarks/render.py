"""Images per second of each renderer for an experiment's look, on every core.

    python benchmarks/render.py [--count 4000] [--photos path/to/photos] [--experiment english]
                                [--workers 1 --passes 3] [overrides of the experiment's config]

Renders the same texts with the same fonts and style, once per renderer (``layered``:
trdg draws the text; ``pillow``: ocr/data/draw.py does), into fresh stores with one
process per core, and prints images/s and the ratio to the first. A look that only
``pillow`` draws (``experiment=english_fonts``: letter-spaced words) is measured with it
alone. With ``--photos``, also the ``pillow`` renderer with half of the backgrounds parts
of those photographs (experiment=english_photo). ``--passes N`` renders each set N times:
with ``--workers 1`` the passes run in this process, and those after the first find the
fonts loaded and their letters in the atlases (``ocr/data/draw.py``), as a worker does
after its first thousands of images; with several workers each pass starts new ones,
which find the atlases the first pass kept in the cache (``data/cache/atlases`` in a
run; here a temporary folder). Prints the peak proportional memory (PSS: pages shared
between processes divided among them) of this process and its workers in each pass.
Figures go to docs/results.md with the machine and commit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory import peak_pss_while  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from ocr.config import compose_config  # noqa: E402
from ocr.data.render import Style, render_store  # noqa: E402
from ocr.data.synth import SynthSets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4000, help="images per renderer")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of photographs")
    parser.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/render.json"))
    parser.add_argument("--experiment", default="english", help="whose look: english_fonts is the shipped model's")
    parser.add_argument("--passes", type=int, default=1, help="times each set is rendered")
    parser.add_argument("overrides", nargs="*", help="of the experiment's config, e.g. 'data.style.photos=[dir]'")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config("train", [f"experiment={args.experiment}", *args.overrides], Path(tmp) / "run")
        data = OmegaConf.to_container(cfg.data, resolve=True)
        sets = SynthSets(**SynthSets.options({**data, "cache_dir": tmp, "count": args.count}))
        job = sets.jobs()["train"]  # its texts, fonts and how they are drawn; the style per renderer
        styles = {name: {**data["style"], "renderer": name} for name in ("layered", "pillow")}
        if Style(**styles["pillow"]).undrawn_by("layered"):
            del styles["layered"]
        if args.photos:
            overrides = ["experiment=english_photo", f"data.style.photos=[{args.photos}]"]
            photo = compose_config("train", overrides, Path(tmp) / "photo").data.style
            styles["pillow, photos"] = OmegaConf.to_container(photo, resolve=True)
        rates, pss = {}, {}
        for name, style in styles.items():
            rates[name], pss[name] = [], []
            for attempt in range(args.passes):
                folder = Path(tmp) / f"{name.replace(', ', '-')}-{attempt}"
                styled = replace(job, style=Style(**style), max_width=800)
                work = partial(render_store, styled, folder, workers=args.workers, desc=name)
                _, seconds, peak = peak_pss_while(work, every=0.25)
                rates[name].append(args.count / seconds)
                pss[name].append(peak / 2**20)
    cores = args.workers or os.cpu_count()
    first = next(iter(rates))
    # The largest of this process and its workers (font caches and atlases are per process).
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"experiment={args.experiment}: {args.count} images each, {cores} processes, peak RSS {peak / 1024:.0f} MB")
    for name, passes in rates.items():
        ratios = ", ".join(f"{rate / base:.2f}" for rate, base in zip(passes, rates[first]))
        print(f"{name:16s} images/s {', '.join(f'{rate:.0f}' for rate in passes)}  ({ratios} x {first})")
        print(f"{'':16s} peak PSS, MB {', '.join(f'{mb:.0f}' for mb in pss[name])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"experiment": args.experiment, "count": args.count, "processes": cores}
    summary |= {"images_per_s": rates, "peak_pss_mb": pss, "peak_rss_mb": peak / 1024}
    args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
