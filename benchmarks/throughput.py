"""Throughput of every stage, measured in one process and one run, each figure also a
ratio to the blog post's own pipeline (re-implemented faithfully below) measured beside it.

    python benchmarks/throughput.py                # this machine's CPU or GPU
    python benchmarks/throughput.py --quick        # seconds: a smoke test (CI)

Stages: rendering (one process and all cores), loading a cached store, training steps
through the real Trainer and configs (steady state, data loading included), inference
through the Recognizer (from decoded images, steady state). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, random_split
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra.utils import instantiate  # noqa: E402

from ocr.config import compose_config  # noqa: E402
from ocr.data.render import render_store  # noqa: E402
from ocr.data.store import ImageStore  # noqa: E402
from ocr.models.crnn import CRNN  # noqa: E402
from ocr.recognizer import Recognizer  # noqa: E402
from ocr.text import CTCCodec  # noqa: E402
from ocr.training import train  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------- the blog post's pipeline
class SeedDataset(Dataset):
    """The blog's SynthDataset: a folder of PNGs named ``<label>_<n>.png``, PIL per item."""

    def __init__(self, folder: Path):
        self.paths = sorted(folder.iterdir())
        self.transform = transforms.Compose(
            [transforms.Grayscale(1), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        return {"img": self.transform(Image.open(path)), "idx": index, "label": path.name.split("_")[0]}


def seed_collate(batch: list[dict]) -> dict:
    """The blog's SynthCollator: pad with ones (white) to the widest image."""
    width = max(item["img"].shape[2] for item in batch)
    imgs = torch.ones([len(batch), 1, batch[0]["img"].shape[1], width], dtype=torch.float32)
    for i, item in enumerate(batch):
        imgs[i, :, :, : item["img"].shape[2]] = item["img"]
    return {"img": imgs, "label": [item["label"] for item in batch]}


def seed_training(folder: Path, alphabet: str, device: torch.device, warmup: int, steps: int) -> float:
    """The blog's loop: batch 32, no workers, float32, CTC on the CPU, clipping 0.05.
    (Its bugs are fixed where they would stop it: the class count and the inputs'
    device.) Images per second over ``steps`` steps after ``warmup``."""
    data = SeedDataset(folder)
    train_split = int(0.8 * len(data))
    train_data, _ = random_split(data, (train_split, len(data) - train_split))
    loader = DataLoader(train_data, batch_size=32, collate_fn=seed_collate, shuffle=True)
    codec = CTCCodec(alphabet)
    model = CRNN(32, 1, 256, codec.num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.CTCLoss(reduction="mean", zero_infinity=True)
    done, images, start = 0, 0, None
    while done < warmup + steps:
        for batch in loader:
            if done == warmup:
                sync(device)
                start, images = time.perf_counter(), 0
            targets, lengths = codec.encode(batch["label"])
            logits = model(batch["img"].to(device)).transpose(1, 0).contiguous().cpu()
            log_probs = F.log_softmax(logits, 2)
            frames = torch.full((log_probs.shape[1],), log_probs.shape[0], dtype=torch.long)
            loss = criterion(log_probs, targets, frames, lengths)
            if not torch.isfinite(loss):  # the blog's sanitize(): a .item() each step
                loss = torch.zeros_like(loss)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.05)
            optimizer.step()
            images += len(batch["label"])
            done += 1
            if done == warmup + steps:
                break
    sync(device)
    return images / (time.perf_counter() - start)


def write_pngs(store: ImageStore, folder: Path, limit: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(min(limit, len(store))):
        Image.fromarray(store.image(i)).save(folder / f"{store.labels[i].replace('/', '')}_{i}.png")


# ------------------------------------------------------------------- the framework
def trainer_throughput(overrides: list[str], warmup: int, steps: int, workdir: Path, cache_dir: Path) -> float:
    cfg = compose_config(
        "train",
        [
            "callbacks=benchmark",
            "logger=none",
            "test=false",
            f"trainer.max_steps={warmup + steps}",
            "trainer.limit_val_batches=0",
            "trainer.num_sanity_val_steps=0",
            "trainer.enable_checkpointing=false",
            f"callbacks.throughput.warmup_steps={warmup}",
            f"callbacks.throughput.window={steps}",
            *overrides,
        ],
        workdir,
        cache_dir,
    )
    _, objects = train(cfg)
    monitor = next(c for c in objects["trainer"].callbacks if type(c).__name__ == "ThroughputMonitor")
    if monitor.images_per_sec is None:
        raise RuntimeError(f"an epoch was shorter than {warmup + steps} steps: render more images")
    return monitor.images_per_sec


def inference_throughput(
    model_overrides: list[str], images: list[np.ndarray], batch_size: int, workdir: Path, cache_dir: Path, repeats: int
) -> float:
    cfg = compose_config("train", model_overrides, workdir, cache_dir)
    recognizer = Recognizer.from_model(instantiate(cfg.model), batch_size=batch_size)
    # Steady state: every width met once before the clock starts (cuDNN plans a
    # convolution the first time it sees a shape; a long-running reader has seen them all).
    recognizer.read_prepared(images)
    device = recognizer.backend.device
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        recognizer.read_prepared(images)
    sync(device)
    return repeats * len(images) / (time.perf_counter() - start)


# ------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke test, figures meaningless")
    parser.add_argument("--train-images", type=int, default=None, help="images rendered for the training runs")
    parser.add_argument("--steps", type=int, default=None, help="measured training steps per run")
    parser.add_argument(
        "--variants",
        nargs="*",
        default=None,
        help="training runs, each 'default' or a comma-separated list of overrides",
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/throughput.json"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    cores = os.cpu_count() or 1
    if args.quick:
        train_images, warmup, steps, one_proc = 200, 2, 3, 16
    elif gpu:
        train_images, warmup, steps, one_proc = 90_000, 15, 50, 800
    else:
        train_images, warmup, steps, one_proc = 4_000, 5, 20, 300
    train_images = args.train_images or train_images
    steps = args.steps or steps
    if args.variants is not None:
        variants = {v: [] if v == "default" else v.split(",") for v in args.variants}
    elif gpu:
        variants = {
            "default (batch 32)": [],
            "trainer=gpu": ["trainer=gpu"],
            "trainer=gpu model.compile=true": ["trainer=gpu", "model.compile=true"],
        }
    else:
        variants = {"default": ["trainer.gpus=0"], "model=crnn_small": ["trainer.gpus=0", "model=crnn_small"]}
    if args.quick:
        variants = {name: [*o, "data.batch_size=16", "data.num_workers=0"] for name, o in variants.items()}

    workdir = Path(tempfile.mkdtemp(prefix="ocr-bench-"))
    cache_dir = args.cache_dir or workdir / "cache"
    results: dict = {
        "machine": {
            "device": torch.cuda.get_device_name() if gpu else platform.processor() or "cpu",
            "cores": cores,
            "torch": torch.__version__,
        },
        "images_per_sec": {},
    }
    rate = results["images_per_sec"]

    # Rendering: the training set of the runs below, on all cores (a cold cache), and a
    # slice of it in one process.
    cfg = compose_config("train", [f"data.count={train_images}", "data.test_count=64"], workdir, cache_dir)
    datamodule = instantiate(cfg.data)
    job = datamodule.sets.jobs()["train"]
    start = time.perf_counter()
    datamodule.prepare_data()
    rate["render, all cores"] = (train_images + 64) / (time.perf_counter() - start)
    part = replace(job, words=tuple(job.words[i] for i in range(one_proc)))  # the same look, fonts and cache
    start = time.perf_counter()
    render_store(part, workdir / "one-process", workers=1)
    rate["render, 1 process"] = one_proc / (time.perf_counter() - start)

    start = time.perf_counter()
    store = ImageStore(datamodule.sets.folder("train"))
    images = [store.image(i) for i in range(len(store))]
    rate["load cached store"] = len(images) / (time.perf_counter() - start)

    pngs = workdir / "seed-pngs"
    write_pngs(store, pngs, limit=max(64, 32 * (warmup + steps) * 2))
    rate["training: blog post's pipeline (baseline)"] = seed_training(pngs, cfg.model.alphabet, device, warmup, steps)
    for name, overrides in variants.items():
        rate[f"training: {name}"] = trainer_throughput(
            [f"data.count={train_images}", "data.test_count=64", *overrides], warmup, steps, workdir / "run", cache_dir
        )
    sample = images[: 64 if args.quick else (50_000 if gpu else 2_000)]
    for name, overrides in {"crnn": [], "crnn_small": ["model=crnn_small"]}.items():
        for batch in (1024, 4096) if gpu else (256,):
            rate[f"inference: {name}, batch {batch}"] = inference_throughput(
                overrides, sample, batch, workdir / "run", cache_dir, repeats=1 if args.quick else 3
            )

    baseline = rate["training: blog post's pipeline (baseline)"]
    results["ratio_to_seed_training"] = {k: v / baseline for k, v in rate.items()}
    results["render_scaling"] = rate["render, all cores"] / (cores * rate["render, 1 process"])
    print(f"\n{results['machine']}")
    print(f"{'stage':55s} {'images/s':>12s} {'x blog':>8s}")
    for name, value in rate.items():
        print(f"{name:55s} {value:12,.1f} {value / baseline:8.2f}")
    print(f"rendering on {cores} cores = {results['render_scaling']:.2f} x cores x one process")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
