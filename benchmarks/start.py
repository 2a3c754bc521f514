"""How soon ``python train.py`` trains on streamed renders, and its host memory, by data.count.

    python benchmarks/start.py [--counts 100000 10000000] [--steps 20] [-- experiment=english ...]

Launches ``train.py data.count=N data.stream=true`` for each count (1,000 validation
images, no test), times from launch to the end of the first training step (the
progress bar refreshed every step) and samples the proportional set size (PSS) of
the process and its loader workers until the run ends. Anything after ``--`` is
passed to every run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory import descendants, pss_bytes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIRST_STEP = re.compile(r"Epoch 0:.*\| 1/\d+ \[")


def launch(count: int, steps: int, extra: list[str], workdir: Path) -> dict:
    command = [
        sys.executable,
        "train.py",
        f"data.count={count}",
        "data.stream=true",
        f"data.val_fraction={1000 / count}",
        f"trainer.max_steps={steps}",
        "test=false",
        "callbacks.progress_bar.refresh_rate=1",
        f"hydra.run.dir={workdir / str(count)}",
        *extra,
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    peak = {"total": 0, "main": 0, "workers": 0, "processes": 0}
    first_step = None

    def sample() -> None:
        while process.poll() is None:
            workers = descendants(process.pid)
            main, rest = pss_bytes(process.pid), sum(map(pss_bytes, workers))
            for key, value in (("total", main + rest), ("main", main), ("workers", rest), ("processes", len(workers))):
                peak[key] = max(peak[key], value)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    line, tail = b"", []
    while chunk := process.stdout.read(1):
        line += chunk
        if chunk in b"\r\n":
            text = line.decode(errors="replace")
            tail = (tail + [text])[-20:]
            if first_step is None and FIRST_STEP.search(text):
                first_step = time.perf_counter() - start
            line = b""
    process.wait()
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{''.join(tail)}")
    return {
        "count": count,
        "first_step_s": first_step,
        "total_s": time.perf_counter() - start,
        "peak_pss_bytes": peak["total"],
        # Each peaked on its own: the main process's (the model, the batches) and its workers'.
        "peak_main_pss_bytes": peak["main"],
        "peak_workers_pss_bytes": peak["workers"],
        "most_worker_processes": peak["processes"],
    }


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000, 10_000_000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/start.json"))
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    with tempfile.TemporaryDirectory(prefix="ocr-start-") as tmp:
        results = [launch(count, args.steps, extra, Path(tmp)) for count in args.counts]
    print(f"overrides: {' '.join(extra) or '(none)'}")
    print(
        f"{'data.count':>12} {'first step, s':>14} {'whole run, s':>13} {'peak PSS, GB':>13} {'main':>6} {'workers':>8}"
    )
    for r in results:
        pss = [r[key] / 1e9 for key in ("peak_pss_bytes", "peak_main_pss_bytes", "peak_workers_pss_bytes")]
        print(
            f"{r['count']:>12,} {r['first_step_s']:>14.1f} {r['total_s']:>13.1f} {pss[0]:>13.2f} {pss[1]:>6.2f} "
            f"{pss[2]:>8.2f}  ({r['most_worker_processes']} worker processes at most)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"overrides": extra, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
