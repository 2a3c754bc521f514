"""Images per second of readers as users run them, beside Tesseract: the README's speed column.

    python benchmarks/reading.py INPUTS [--rounds 2] [--jobs 2] [--no-tesseract] [--out F] [-- READER ...]

A reader is one string of ``predict.py`` overrides ("" for the default, ``"decode=dictionary
views.stretches=[0.8,1.3,1.6]"``, ``ckpt_path=best.onnx``); without any, the README table's
readers. Each round runs Tesseract 5 first (``tesseract --psm 8``, ``--jobs`` processes
with one thread each, lists of 50 images: a model load per list), then every reader once:
``predict.py inputs=INPUTS`` timed from launch to exit, its process start included. A
reader's ratio is to the Tesseract run of its own round: the speed of a shared machine
drifts between rounds, not within one. Before the first round every image is read once
and both readers run on a few (untimed), so that no round pays for a cold disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocr.prediction import expand_inputs  # noqa: E402

READERS = (
    "",
    "views.stretches=[0.8,1.3,1.6]",
    "views=doubtful",
    "decode=dictionary",
    "decode=dictionary views=doubtful",
    "ckpt_path=english_real",
    "ckpt_path=english_real decode=dictionary",
)
TESSERACT_LIST = 50  # images per tesseract process


def write_list(path: Path, images: list[Path]) -> Path:
    """A ``.txt`` of the images' absolute paths, as predict.py and tesseract take lists."""
    path.write_text("".join(f"{p.resolve()}\n" for p in images))
    return path


def time_tesseract(images: list[Path], jobs: int, workdir: Path) -> float:
    """Seconds Tesseract takes to read ``images``, ``jobs`` lists at a time."""
    starts = range(0, len(images), TESSERACT_LIST)
    lists = [write_list(workdir / f"tesseract-{s}.txt", images[s : s + TESSERACT_LIST]) for s in starts]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def read(listing: Path) -> None:
        result = subprocess.run(["tesseract", str(listing), "stdout", "--psm", "8"], env=env, capture_output=True)
        if result.returncode != 0 and not result.stdout:  # an unreadable image only costs its own reading
            sys.exit(f"tesseract failed on {listing}: {result.stderr.decode(errors='replace')[-2000:]}")

    began = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(read, lists))
    return time.perf_counter() - began


def time_reader(inputs: str, reader: str, workdir: Path) -> tuple[float, int]:
    """Seconds ``predict.py`` takes with the reader's overrides, and the images it read."""
    output = workdir / "readings.tsv"
    command = [sys.executable, "predict.py", f"inputs={inputs}", f"output={output}", f"hydra.run.dir={workdir}"]
    began = time.perf_counter()
    result = subprocess.run([*command, *shlex.split(reader)], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"predict.py {reader}: failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds, len(output.read_text(encoding="utf-8").splitlines())


def warm_up(images: list[Path], tesseract: bool, jobs: int, workdir: Path) -> None:
    """Untimed: every image read once (into the page cache), and Tesseract and ``predict.py``
    run on a few (their libraries and models from disk): what the first round would pay alone."""
    for path in images:
        path.read_bytes()
    few = images[:TESSERACT_LIST]
    if tesseract:
        time_tesseract(few, jobs, workdir)
    time_reader(str(write_list(workdir / "warm-up.txt", few)), "", workdir)


def main() -> None:
    argv = sys.argv[1:]
    readers = argv[argv.index("--") + 1 :] if "--" in argv else list(READERS)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", help="what predict.py's inputs= takes: a folder, a glob, a .txt list")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="Tesseract processes")
    parser.add_argument("--no-tesseract", action="store_true", help="readers only (ratios left out)")
    parser.add_argument("--out", type=Path, help="a JSON file for every round's figures")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if Path(args.inputs).exists():  # predict.py runs from the project's root
        args.inputs = str(Path(args.inputs).resolve())
    images = expand_inputs(args.inputs)
    tesseract = not args.no_tesseract
    if tesseract and shutil.which("tesseract") is None:
        sys.exit("tesseract is not installed (apt-get install tesseract-ocr), or pass --no-tesseract")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        warm_up(images, tesseract, args.jobs, workdir)
        for number in range(1, args.rounds + 1):
            figures = {}
            if tesseract:
                figures["tesseract"] = len(images) / time_tesseract(images, args.jobs, workdir)
                print(f"round {number}: tesseract {figures['tesseract']:,.1f} images/s", flush=True)
            for reader in readers:
                seconds, read = time_reader(args.inputs, reader, workdir)
                figures[reader] = read / seconds
                ratio = f" ({figures[reader] / figures['tesseract']:.2f}x tesseract)" if tesseract else ""
                print(f"round {number}: [{reader}] {read} images in {seconds:.2f} s: {figures[reader]:,.1f}/s{ratio}")
            rounds.append(figures)
    print("\n| reader | images/s | x Tesseract |\n| --- | ---: | ---: |")
    names = {"tesseract": f"Tesseract (`--psm 8`, {args.jobs} processes)", "": "the default"}
    for reader in (["tesseract"] if tesseract else []) + readers:
        speeds = ", ".join(f"{r[reader]:,.0f}" for r in rounds)
        ratios = ", ".join(f"{r[reader] / r['tesseract']:.2f}" for r in rounds) if tesseract else ""
        print(f"| {names.get(reader, f'`{reader}`')} | {speeds} | {ratios} |")
    if args.out:
        args.out.write_text(json.dumps({"inputs": args.inputs, "images": len(images), "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
