"""Where the time of a training step and of an inference batch goes, by operator.

    python benchmarks/profile_steps.py experiment=seed trainer.gpus=1      # any train.py overrides
    python benchmarks/profile_steps.py --quick trainer.gpus=0             # seconds: a smoke test

Trains through the real Trainer and callbacks for ``--warmup`` steps, then records
``--steps`` steps with torch.profiler (``--python``: with cProfile, and stops there); then
reads ``--batches`` batches of the validation images with the Recognizer and records
those. For each it prints the host's wall time per step beside the device's busy time per
step (host-bound when the first is the larger), and the operators that took the most host
and device time; last, what the first call at a width not met before costs (cuDNN plans
each new shape). Writes the text to ``--out``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr.config import compose_config  # noqa: E402
from ocr.recognizer import Recognizer  # noqa: E402
from ocr.training import train  # noqa: E402


def activities() -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def summary(title: str, prof, steps: int, wall: float, rows: int) -> str:
    """Wall time per step, device busy time per step, and the top operators both ways."""
    events = prof.key_averages()
    # Kernels and copies on the device only (an operator also reports its kernels' time,
    # a user annotation such as Optimizer.step#... its whole span).
    on_device = [e for e in events if e.device_type != DeviceType.CPU and not e.is_user_annotation]
    device = sum(e.self_device_time_total for e in on_device) / 1e3 / steps  # µs -> ms
    lines = [
        f"== {title}: {steps} steps, wall {1e3 * wall / steps:.2f} ms/step, "
        f"device busy {device:.2f} ms/step" + ("" if device else " (no GPU)"),
        events.table(sort_by="self_cpu_time_total", row_limit=rows),
    ]
    if device:
        lines.append(events.table(sort_by="self_device_time_total", row_limit=rows))
    return "\n".join(lines)


class ProfileSteps(pl.Callback):
    """Times training steps ``warmup - steps`` to ``warmup`` unprofiled, then records steps
    ``warmup`` to ``warmup + steps`` with torch.profiler, or with cProfile when ``python``
    (the host's Python functions rather than its operators); the GPU is synchronised at
    the ends of each window, not between."""

    def __init__(self, warmup: int, steps: int, python: bool = False):
        self.warmup, self.steps, self.python = warmup, steps, python
        self.prof = None
        self.wall = self.plain = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup - self.steps:
            sync()
            self.plain = time.perf_counter()
        if trainer.global_step == self.warmup:
            sync()
            if self.plain:
                self.plain = time.perf_counter() - self.plain
            self.prof = cProfile.Profile() if self.python else profile(activities=activities())
            self.prof.__enter__()
            self.wall = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.prof is not None and trainer.global_step == self.warmup + self.steps:
            sync()
            self.wall = time.perf_counter() - self.wall
            self.prof.__exit__(None, None, None)


def python_summary(title: str, prof: cProfile.Profile, steps: int, wall: float, plain: float, rows: int) -> str:
    """The Python functions that took the most host time, by their own time and in all."""
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(rows)
    stats.sort_stats("cumulative").print_stats(rows)
    unprofiled = f", unprofiled {1e3 * plain / steps:.2f} ms/step" if plain else ""
    head = f"== {title}: {steps} steps under cProfile, wall {1e3 * wall / steps:.2f} ms/step{unprofiled}"
    return f"{head}\n{out.getvalue()}"


def first_calls(model, batch_size: int, quick: bool) -> str:
    """What a width not met before costs: a training step (forward and backward, batch 32)
    and an inference batch, each timed on its first and its second call."""
    from ocr.devices import autocast

    device = next(model.parameters()).device
    widths = [424, 456] if quick else [424, 440, 456, 472, 488, 504]

    def train_step(images: torch.Tensor) -> None:
        model.train()
        with autocast(device):
            loss = model(images).float().logsumexp(-1).mean()
        loss.backward()

    def read(images: torch.Tensor) -> None:
        model.eval()
        with torch.inference_mode(), autocast(device):
            model(images)

    def seconds(run, images: torch.Tensor) -> float:
        sync()
        start = time.perf_counter()
        run(images)
        sync()
        return time.perf_counter() - start

    lines = [f"== first call at a new width ({len(widths)} widths), ms: first / second"]
    runs = (("training step, batch 32", train_step, 32), (f"inference, batch {batch_size}", read, batch_size))
    for name, run, batch in runs:
        first = second = 0.0
        for width in widths:
            images = torch.randint(0, 256, (batch, 1, model.hparams.imgH, width), dtype=torch.uint8, device=device)
            first += seconds(run, images)
            second += seconds(run, images)
        lines.append(f"{name}: {1e3 * first / len(widths):.1f} / {1e3 * second / len(widths):.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="train.py overrides")
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke test")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batches", type=int, default=10, help="inference batches recorded")
    parser.add_argument("--batch-size", type=int, default=1024, help="inference batch size")
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--python", action="store_true", help="training steps under cProfile (host Python), then stop")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/profile.txt"))
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.steps, args.batches, args.batch_size = 2, 2, 2, 16
    workdir = Path(tempfile.mkdtemp(prefix="ocr-profile-"))
    quick = ["data.count=200", "data.test_count=16", "data.batch_size=16", "data.num_workers=0"] if args.quick else []
    steps = f"trainer.max_steps={args.warmup + args.steps}"
    cfg = compose_config("train", ["test=false", "~callbacks.early_stopping", steps, *quick, *args.overrides], workdir)
    recorder = ProfileSteps(args.warmup, args.steps, python=args.python)
    _, objects = train(cfg, extra_callbacks=[recorder])
    if recorder.prof is None:
        raise RuntimeError(f"training stopped before step {args.warmup}: render more images (data.count)")
    if args.python:
        report = [python_summary("training steps", recorder.prof, args.steps, recorder.wall, recorder.plain, args.rows)]
        return write(report, args.out)
    report = [summary("training steps", recorder.prof, args.steps, recorder.wall, args.rows)]

    datamodule, model = objects["datamodule"], objects["model"]
    images = [datamodule.val_set[index][1] for index in range(len(datamodule.val_set))]
    recognizer = Recognizer.from_model(model, batch_size=args.batch_size)
    recognizer.read_prepared(images[: 2 * args.batch_size])  # warm-up
    chosen = (images * (1 + args.batches * args.batch_size // max(1, len(images))))[: args.batches * args.batch_size]
    sync()
    with profile(activities=activities()) as prof:
        start = time.perf_counter()
        recognizer.read_prepared(chosen)
        sync()
        wall = time.perf_counter() - start
    report.append(summary(f"inference, batch {args.batch_size}", prof, args.batches, wall, args.rows))
    report.append(first_calls(model, args.batch_size, quick=args.quick))
    write(report, args.out)


def write(report: list[str], out: Path) -> None:
    text = "\n\n".join(report)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
