"""The LightningModule: a network trained with CTC, its optimiser and its metrics."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Timer
from torch import nn

from ocr.geometry import output_frames
from ocr.metrics import TextMetrics
from ocr.models.augment import Augment
from ocr.models.crnn import PAPER_CHANNELS, normalize
from ocr.models.distill import Teachers
from ocr.models.graphs import TrainingGraphs
from ocr.models.guard import NonFiniteGuard
from ocr.models.networks import check_same_model, network
from ocr.models.schedule import warmup_cosine
from ocr.options import check_numbers
from ocr.text import CTCCodec

# Epoch-level values are logged already reduced across DDP ranks (torchmetrics sums the
# states), so Lightning's advice to pass sync_dist=True does not apply.
warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting.*")


class OCRSystem(pl.LightningModule):
    """A network trained with CTC. ``net`` (the ``model.net`` node, or a registered name) is
    built with the sizes below and ``nClasses = len(alphabet) + 1``; checkpoints keep plain
    hyperparameters: its name, its sizes, and ``data``, the training data's config. Labels
    travel as strings and images as uint8: both are encoded here, on the model's device."""

    def __init__(
        self,
        alphabet: str,
        net: Callable[..., nn.Module] | str = "crnn",
        imgH: int = 32,
        nChannels: int = 1,
        nHidden: int = 256,
        leakyRelu: bool = False,
        channels: list[int] | tuple[int, ...] = PAPER_CHANNELS,
        headNorm: bool = False,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: bool = False,
        warmup_steps: int = 0,
        channels_last: bool = False,
        compile: bool = False,
        cuda_graphs: bool = True,
        train_metrics_every: int = 10,
        skip_nonfinite: bool = True,
        max_nonfinite_steps: int = 20,
        augment: dict | None = None,
        data: dict | None = None,
    ):
        super().__init__()
        check_numbers("model", nHidden=(nHidden, int, 1), nChannels=(nChannels, int, 1), lr=(lr, float, 0))
        check_numbers("model", weight_decay=(weight_decay, float, 0), warmup_steps=(warmup_steps, int, 0))
        check_numbers("model", train_metrics_every=(train_metrics_every, int, 0))
        check_numbers("model", max_nonfinite_steps=(max_nonfinite_steps, int, 1))
        name, build = network(net)
        # Plain values only, so that checkpoints load with torch.load(weights_only=True).
        self.save_hyperparameters(ignore=["net"])
        self.hparams.update(net=name, channels=list(channels), augment=dict(augment) if augment else None)
        self.codec = CTCCodec(alphabet)
        sizes = dict(imgH=imgH, nChannels=nChannels, nHidden=nHidden, leakyRelu=leakyRelu, headNorm=headNorm)
        self.model = build(nClasses=self.codec.num_classes, channels=tuple(channels), **sizes)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.augment = Augment(**augment) if augment else None
        self.train_metrics, self.val_metrics = TextMetrics(), TextMetrics()
        self.guard = NonFiniteGuard(max_nonfinite_steps)
        self.graphs: TrainingGraphs | None = None
        self.last_labels: list[str] = []  # named when a run stops for non-finite losses
        self.epoch_loss: torch.Tensor | float = 0.0  # summed on the device over the epoch's images
        self.epoch_images = 0
        # trainer.max_time's timer where the cosine schedule follows it (configure_optimizers),
        # and the share of that time used, set before each step.
        self.timer: Timer | None = None
        self.time_spent = 0.0
        self.teachers: Teachers | None = None  # models it learns the readings of (distill.teacher), if any

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 or normalised float images ``(B, C, imgH, W)`` and their widths before
        padding ``(B,)`` to logits ``(B, T, classes)``, of which each image's first
        ``output_frames(width)`` are its own (see ``CRNN.forward``)."""
        if images.dtype == torch.uint8:
            images = normalize(images)
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if widths is not None:
            widths = widths.to(images.device, non_blocking=True)
        if self.graphs is not None and widths is not None and self.graphs.accepts(images):
            return self.graphs(images, widths)
        return self.model(images, widths)

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            # The CNN has static shapes per width; the LSTMs gain nothing from compiling.
            self.model.cnn = torch.compile(self.model.cnn, dynamic=True)
        elif self.hparams.cuda_graphs and stage == "fit" and self.trainer.world_size == 1:
            # Small training batches on a GPU as CUDA graphs (see ocr.models.graphs);
            # not under DDP, whose gradient hooks a graph would have to respect.
            self.graphs = TrainingGraphs(self.model)

    def on_fit_start(self) -> None:
        if self.teachers is not None:
            self.teachers.to(self.device)

    def on_fit_end(self) -> None:
        if self.graphs is not None:
            self.graphs.clear()
            self.graphs = None

    def transfer_batch_to_device(self, batch: dict, device: torch.device, dataloader_idx: int) -> dict:
        # Only the images travel (Lightning's generic version walks every label); the widths
        # stay on the host, where the CTC loss wants its lengths (forward sends a copy).
        return {**batch, "images": batch["images"].to(device, non_blocking=True)}

    def ctc_loss(self, logits: torch.Tensor, labels: list[str], widths: torch.Tensor) -> torch.Tensor:
        """CTC over each image's own frames, in float32 on the model's device."""
        targets, target_lengths = self.codec.encode(labels, logits.device)
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, C)
        frames = output_frames(widths.cpu()).clamp(max=logits.shape[1])
        return F.ctc_loss(log_probs, targets, frames, target_lengths, blank=0, reduction="mean", zero_infinity=True)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        images, widths = normalize(batch["images"]), batch["widths"]
        if self.augment:
            images, widths = self.augment(images, widths, batch["labels"])
        logits = self(images, widths)
        loss = self.ctc_loss(logits, batch["labels"], widths)
        distance = None
        if self.teachers is not None:
            distance = self.teachers.loss(logits, images, widths)
            loss = (1 - self.teachers.weight) * loss + self.teachers.weight * distance
        self.last_labels, batch_size = batch["labels"], len(batch["labels"])
        # Each rank's own loss (reducing it would be a collective every step), logged on the
        # steps the loggers write: a self.log call costs the host more than a graphed step.
        self.epoch_loss = self.epoch_loss + loss.detach() * batch_size
        self.epoch_images += batch_size
        if (self.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("train/loss_step", loss, prog_bar=True, batch_size=batch_size)
            if distance is not None:  # how far its readings lie from its teachers'
                self.log("train/distill_step", distance, batch_size=batch_size)
        every = self.hparams.train_metrics_every
        if every and batch_idx % every == 0:
            with torch.no_grad():
                texts, _ = self.codec.decode_greedy(logits.detach(), output_frames(widths))
            self.train_metrics.update(texts, batch["labels"])
        return loss

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip, and skip non-finite updates on the device (``NonFiniteGuard``), read by the
        host every ``log_every_n_steps`` steps on a GPU and every step on a CPU. Lightning
        clips itself where the optimiser is not fused (``skip_nonfinite`` off, 16-mixed)."""
        if not optimizer.defaults.get("fused"):
            return self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        self.guard.clip(optimizer, self.parameters(), gradient_clip_val, gradient_clip_algorithm)
        if self.device.type == "cpu" or self.global_step % self.trainer.log_every_n_steps == 0:
            self.guard.check(self.global_step, self.last_labels)

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        if self.timer is not None:
            elapsed = self.timer.time_elapsed()
            # The first process's clock: every process must set the same learning rate.
            self.time_spent = self.trainer.strategy.broadcast(elapsed / (elapsed + self.timer.time_remaining()))

    def on_train_epoch_end(self) -> None:
        if self.epoch_images:
            self.log("train/loss_epoch", self.epoch_loss / self.epoch_images, sync_dist=False)
        self.epoch_loss, self.epoch_images = 0.0, 0
        self.guard.check(self.global_step, self.last_labels)
        self.log("train/skipped_steps", float(self.guard.skipped), sync_dist=False)
        self.log_metrics("train", self.train_metrics)

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        logits = self(batch["images"], batch["widths"])
        texts, confidences = self.codec.decode_greedy(logits, output_frames(batch["widths"]))
        loss = self.ctc_loss(logits, batch["labels"], batch["widths"])
        self.val_metrics.update(texts, batch["labels"], confidences, loss=loss)
        if batch["unreadable"]:  # read as nothing, as evaluation counts them
            self.val_metrics.update([""] * len(batch["unreadable"]), [label for _, label in batch["unreadable"]])
        return {"texts": texts}  # for callbacks (ocr.callbacks.PredictionGrid)

    def on_validation_epoch_end(self) -> None:
        self.log_metrics("val", self.val_metrics, prog_bar=True)

    def log_metrics(self, prefix: str, metrics: TextMetrics, prog_bar: bool = False) -> None:
        if metrics.update_count:
            for name, value in metrics.compute().items():
                shown = prog_bar and name in ("char_accuracy", "word_accuracy")
                self.log(f"{prefix}/{name}", float(value), prog_bar=shown, sync_dist=False)
            metrics.reset()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Resuming: the checkpoint must be of this model (same alphabet, same shape)."""
        check_same_model(checkpoint.get("hyper_parameters", {}), self.hparams, "cannot resume")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # A plain dict, so that torch.load(weights_only=True) can read it back.
        checkpoint["hyper_parameters"] = dict(checkpoint.get("hyper_parameters", {}))

    def configure_optimizers(self):
        # Fused: one kernel for all parameters, and it can skip a non-finite update on the
        # device (configure_gradient_clipping); not under 16-mixed, whose scaler skips those.
        fused = self.hparams.skip_nonfinite and self.trainer.precision != "16-mixed"
        optimizer = torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay, fused=fused or None
        )
        if not self.hparams.schedule and not self.hparams.warmup_steps:
            return optimizer
        total = max(1, self.trainer.estimated_stepping_batches)  # infinite without max_epochs nor max_steps
        timers = (c for c in self.trainer.callbacks if isinstance(c, Timer) and c.time_remaining() is not None)
        self.timer = next(timers, None)  # Lightning's, when the run has trainer.max_time
        spent = (lambda: self.time_spent) if self.timer else None
        factor = warmup_cosine(self.hparams.warmup_steps, total, anneal=self.hparams.schedule, spent=spent)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
