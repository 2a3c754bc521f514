"""Lightning callbacks of our own."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins import TorchCheckpointIO

from ocr.files import atomic_write
from ocr.visualize import prediction_grid


class ThroughputMonitor(pl.Callback):
    """Training images per second in steady state, data loading included.

    The clock starts after ``warmup_steps`` batches (compilation, cuDNN autotuning and
    worker start-up excluded) and the GPU is synchronised only at the two ends of each
    window of ``window`` steps, so measuring does not slow the loop down.
    """

    def __init__(self, warmup_steps: int = 20, window: int = 50):
        self.warmup_steps, self.window = warmup_steps, window
        self.images_per_sec: float | None = None
        self._start: float | None = None
        self._images = 0
        self._steps = 0

    def _sync(self, trainer: pl.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start, self._images, self._steps = None, 0, 0  # validation between epochs is not training time

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._steps += 1
        if self._steps == self.warmup_steps:
            self._sync(trainer)
            self._start, self._images = time.perf_counter(), 0
            return
        if self._start is None:
            return
        self._images += len(batch["labels"]) * trainer.world_size
        if (self._steps - self.warmup_steps) % self.window == 0:
            self._sync(trainer)
            self.images_per_sec = self._images / (time.perf_counter() - self._start)
            pl_module.log("train/images_per_sec", self.images_per_sec, rank_zero_only=True)


class PredictionGrid(pl.Callback):
    """A grid of the first validation batch's images titled with what the model read (the
    blog post's figure), in TensorBoard's Images tab after each validation: two columns of
    images drawn twice their size, so that the grid reads without zooming."""

    def __init__(self, size: int = 12, scale: int = 2):
        self.size, self.scale = size, scale
        self.grid: tuple | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and trainer.is_global_zero and not trainer.sanity_checking and self.size:
            n = self.size
            self.grid = (
                batch["images"][:n].cpu(),
                batch["widths"][:n].tolist(),
                outputs["texts"][:n],
                batch["labels"][:n],
            )

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self.grid is None:
            return
        images, widths, texts, labels = self.grid
        words = [
            np.kron(im[0, :, :w].numpy(), np.ones((self.scale, self.scale), np.uint8)) for im, w in zip(images, widths)
        ]
        grid = prediction_grid(words, texts, labels, columns=2, cell_width=200 * self.scale)
        for logger in trainer.loggers:
            if hasattr(logger.experiment, "add_image"):
                logger.experiment.add_image("val/predictions", grid, trainer.global_step, dataformats="HWC")
        self.grid = None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file beside the target, synced, then renamed:
    a kill or a full disk never leaves a truncated checkpoint, and the previous one
    stays whole until the new one is complete."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(path, lambda f: torch.save(checkpoint, f))
        except OSError as err:
            raise OSError(
                err.errno,
                f"could not write checkpoint {path}: {err.strerror or err}; the previous checkpoint is intact",
            ) from err
