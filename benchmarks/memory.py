"""Host memory while training on a large image store (default: a million images).

    python benchmarks/memory.py [--images 1000000] [--steps 40]

Writes a store of that many synthetic word-sized images (random widths, random labels:
the content does not change memory use), points the real SynthDataModule at it and
trains through the real Trainer for some steps with DataLoader workers, sampling the
proportional set size (PSS: resident memory, pages shared between the main process and
its forked workers divided among them) of the process and all its children.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr.config import compose_config  # noqa: E402
from ocr.data import store  # noqa: E402
from ocr.data.synth import SynthSets  # noqa: E402
from ocr.training import train  # noqa: E402


def pss_bytes(pid: int) -> int:
    """Proportional resident memory of the process ``pid`` (0 once it has ended), from /proc."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
    except (FileNotFoundError, StopIteration, ProcessLookupError):
        return 0


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
                found += children
                todo += children
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_pss_bytes(pid: int) -> int:
    """Proportional resident memory of ``pid`` and all its descendants."""
    return sum(map(pss_bytes, [pid, *descendants(pid)]))


def peak_pss_while(work, every: float = 0.1) -> tuple[object, float, int]:
    """What ``work()`` returns, the seconds it takes and the peak PSS (bytes) of this
    process and its children meanwhile, sampled every ``every`` seconds."""
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(every):
            peak = max(peak, tree_pss_bytes(os.getpid()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return result, seconds, max(peak, tree_pss_bytes(os.getpid()))


def write_fake_store(folder: Path, count: int, alphabet: str, shard_size: int = 4000) -> None:
    rng = random.Random(0)
    letters = [c for c in alphabet if c.isalpha()]
    folder.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, count, shard_size)):
        n = min(shard_size, count - start)
        labels = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 12))) for _ in range(n)]
        images = [np.full((32, 10 * len(label) + rng.randint(0, 20)), 200, np.uint8) for label in labels]
        store.write_shard(folder, index, images, labels)
    store.write_manifest(folder, -(-count // shard_size), {"fake": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/memory.json"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ocr-memory-"))
    cfg = compose_config(
        "train",
        [
            f"data.count={args.images}",
            "data.test_count=64",
            "callbacks=benchmark",
            "logger=none",
            "test=false",
            f"trainer.max_steps={args.steps}",
            "trainer.limit_val_batches=2",
            "trainer.num_sanity_val_steps=0",
            "trainer.enable_checkpointing=false",
            f"data.num_workers={args.workers}",
            "model=crnn_small",
            "callbacks.throughput.warmup_steps=5",
            "callbacks.throughput.window=10",
        ],
        workdir,
        workdir / "cache",
    )
    fake = workdir / "store"
    start = time.perf_counter()
    write_fake_store(fake, args.images, cfg.model.alphabet)
    written = time.perf_counter() - start
    SynthSets.folder = lambda self, split: fake  # the store above stands for both sets

    (_, objects), train_s, peak = peak_pss_while(lambda: train(cfg))
    result = {
        "images": args.images,
        "store_bytes": sum(p.stat().st_size for p in fake.iterdir()),
        "store_files": len(list(fake.iterdir())),
        "write_s": written,
        "train_s": train_s,
        "steps": objects["trainer"].global_step,
        "workers": args.workers,
        "peak_pss_bytes": peak,
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
