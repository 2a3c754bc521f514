"""The LightningModule: the CRNN, the CTC loss, the optimiser and the metrics."""

from __future__ import annotations

import logging
import math
import warnings

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from ocr.data.augment import Augment
from ocr.data.batching import normalize
from ocr.geometry import output_frames
from ocr.metrics import TextMetrics
from ocr.models.crnn import CRNN, PAPER_CHANNELS
from ocr.models.graphs import TrainingGraphs
from ocr.options import check_number
from ocr.text import CTCCodec, alphabet_difference
from ocr.visualize import prediction_grid

log = logging.getLogger(__name__)

# Epoch-level values are logged already reduced across DDP ranks (torchmetrics sums the
# states), so Lightning's advice to pass sync_dist=True does not apply.
warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting.*")


# The hyperparameters that give the network its shape (with the alphabet).
ARCHITECTURE = ("imgH", "nChannels", "nHidden", "leakyRelu", "channels")


class NonFiniteLossError(RuntimeError):
    pass


class OCRSystem(pl.LightningModule):
    """A CRNN trained with CTC.

    Labels travel in the batch as strings and are encoded here, on the model's device.
    Images arrive as uint8 and are normalised here, a batch at a time.
    """

    def __init__(
        self,
        alphabet: str,
        imgH: int = 32,
        nChannels: int = 1,
        nHidden: int = 256,
        leakyRelu: bool = False,
        channels: list[int] | tuple[int, ...] = PAPER_CHANNELS,
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
        grid_size: int = 20,
        augment: dict | None = None,
    ):
        super().__init__()
        for name, value, kind, least in (
            ("nHidden", nHidden, int, 1),
            ("nChannels", nChannels, int, 1),
            ("lr", lr, float, 0),
            ("weight_decay", weight_decay, float, 0),
            ("warmup_steps", warmup_steps, int, 0),
            ("train_metrics_every", train_metrics_every, int, 0),
            ("max_nonfinite_steps", max_nonfinite_steps, int, 1),
            ("grid_size", grid_size, int, 0),
        ):
            check_number(f"model.{name}", value, kind, minimum=least)
        # Plain types only, so that checkpoints load with torch.load(weights_only=True).
        channels, augment = list(channels), dict(augment) if augment else None
        self.save_hyperparameters()
        self.codec = CTCCodec(alphabet)
        self.model = CRNN(imgH, nChannels, nHidden, self.codec.num_classes, leakyRelu, tuple(channels))
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.augment = Augment(**augment) if augment else None
        self.train_metrics, self.val_metrics = TextMetrics(), TextMetrics()
        # Non-finite updates skipped: in all, in the current run, the longest run (device
        # counters, read by the host only now and then; see configure_gradient_clipping).
        self._nonfinite: dict[str, torch.Tensor] = {}
        self._nonfinite_reported = 0
        self._last_labels: list[str] = []
        self._graphs: TrainingGraphs | None = None
        # The training loss summed over the epoch on the device, and its images.
        self._epoch_loss: torch.Tensor | float = 0.0
        self._epoch_images = 0
        self._grid: tuple | None = None
        # The training run's data config (plain dict), saved with checkpoints so that
        # evaluate.py can rebuild the test set the model was trained with.
        self.data_config: dict | None = None

    # ------------------------------------------------------------------ model
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
        if self._graphs is not None and widths is not None and self._graphs.accepts(images):
            return self._graphs(images, widths)
        return self.model(images, widths)

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            # The CNN has static shapes per width; the LSTMs gain nothing from compiling.
            self.model.cnn = torch.compile(self.model.cnn, dynamic=True)
        elif self.hparams.cuda_graphs and stage == "fit" and self.trainer.world_size == 1:
            # Small training batches on a GPU as CUDA graphs (see ocr.models.graphs);
            # not under DDP, whose gradient hooks a graph would have to respect.
            self._graphs = TrainingGraphs(self.model)

    def on_fit_end(self) -> None:
        if self._graphs is not None:
            self._graphs.clear()
            self._graphs = None

    def transfer_batch_to_device(self, batch: dict, device: torch.device, dataloader_idx: int) -> dict:
        # Only the images travel (Lightning's generic version walks every label too); the
        # widths stay on the host too, where the CTC loss wants its lengths, and forward
        # sends a copy without waiting.
        return {**batch, "images": batch["images"].to(device, non_blocking=True)}

    def ctc_loss(self, logits: torch.Tensor, labels: list[str], widths: torch.Tensor) -> torch.Tensor:
        """CTC over each image's own frames, in float32 on the model's device; the lengths
        stay on the host (see CTCCodec.encode)."""
        targets, target_lengths = self.codec.encode(labels, logits.device)
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, C)
        frames = output_frames(widths.cpu()).clamp(max=logits.shape[1])
        return F.ctc_loss(log_probs, targets, frames, target_lengths, blank=0, reduction="mean", zero_infinity=True)

    # --------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        images, widths = normalize(batch["images"]), batch["widths"]
        if self.augment:
            images, widths = self.augment(images, widths, batch["labels"])
        logits = self(images, widths)
        loss = self.ctc_loss(logits, batch["labels"], widths)
        self._last_labels = batch["labels"]
        batch_size = len(batch["labels"])
        # Not reduced across DDP ranks (that would be a collective every step): each
        # rank's own loss; validation and test losses are reduced exactly. Logged on the
        # steps that the loggers write (a self.log call costs the host 0.2 ms or more, a
        # tenth of a graphed step), and summed on the device for the epoch's mean.
        self._epoch_loss = self._epoch_loss + loss.detach() * batch_size
        self._epoch_images += batch_size
        if (self.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("train/loss_step", loss, prog_bar=True, batch_size=batch_size)
        every = self.hparams.train_metrics_every
        if every and batch_idx % every == 0:
            with torch.no_grad():
                texts, _ = self.codec.decode_greedy(logits.detach(), output_frames(widths))
            self.train_metrics.update(texts, batch["labels"])
        return loss

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip as Lightning does, and skip the update when a gradient is not finite
        (stopping after too many in a row), both from one gradient norm.

        The decision stays on the device: the fused Adam skips an update flagged in its
        ``found_inf`` (as under a gradient scaler), so the host does not wait for the GPU
        every step. The host reads the counters every ``trainer.log_every_n_steps`` steps
        on a GPU, every step on the CPU (where reading costs nothing). Under DDP the
        gradients are already averaged here, so every rank decides alike. (Lightning
        refuses to clip for a fused optimiser under mixed precision, as a gradient scaler
        would unscale inside the step; bf16 has no scaler, and 16-mixed gets no fused
        optimiser, see configure_optimizers.)
        """
        if not optimizer.defaults.get("fused"):  # skip_nonfinite off, or 16-mixed's scaler skips
            return self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        parameters = [p for p in self.parameters() if p.grad is not None]
        if not parameters:
            return
        norm = torch.nn.utils.get_total_norm([p.grad for p in parameters])
        if gradient_clip_val and gradient_clip_algorithm in (None, "norm"):
            torch.nn.utils.clip_grads_with_norm_(parameters, gradient_clip_val, norm)
        elif gradient_clip_val:
            torch.nn.utils.clip_grad_value_(parameters, gradient_clip_val)
        nonfinite = ~torch.isfinite(norm)
        optimizer.found_inf = nonfinite.float()
        if not self._nonfinite:
            zero = torch.zeros((), dtype=torch.long, device=norm.device)
            self._nonfinite = {"all": zero, "run": zero, "longest": zero}
        counts = self._nonfinite
        counts["all"] = counts["all"] + nonfinite
        counts["run"] = (counts["run"] + 1) * nonfinite
        counts["longest"] = torch.maximum(counts["longest"], counts["run"])
        if norm.device.type == "cpu" or self.global_step % self.trainer.log_every_n_steps == 0:
            self._check_nonfinite()

    @property
    def nonfinite_steps(self) -> int:
        """Updates skipped so far for a non-finite loss or gradient (reads the device)."""
        return int(self._nonfinite["all"]) if self._nonfinite else 0

    def _check_nonfinite(self) -> None:
        skipped = self.nonfinite_steps
        if skipped > self._nonfinite_reported:
            log.warning(
                "step %d: %d update(s) skipped for a non-finite loss or gradient (%d so far)",
                self.global_step,
                skipped - self._nonfinite_reported,
                skipped,
            )
            self._nonfinite_reported = skipped
        longest = int(self._nonfinite["longest"]) if self._nonfinite else 0
        if longest >= self.hparams.max_nonfinite_steps:
            lengths = [len(label) for label in self._last_labels]
            raise NonFiniteLossError(
                f"{longest} steps in a row had a non-finite loss or gradient; the last "
                f"batch had {len(lengths)} labels of lengths {min(lengths, default=0)}-{max(lengths, default=0)}: "
                f"{self._last_labels[:8]}... Lower model.lr, check the labels, or use trainer.precision=32."
            )

    def on_train_epoch_end(self) -> None:
        if self._epoch_images:
            self.log("train/loss_epoch", self._epoch_loss / self._epoch_images, sync_dist=False)
        self._epoch_loss, self._epoch_images = 0.0, 0
        self._check_nonfinite()
        self.log("train/skipped_steps", float(self.nonfinite_steps), sync_dist=False)
        self._log_metrics("train", self.train_metrics)

    # ------------------------------------------------------------- evaluation
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["images"], batch["widths"])
        texts, confidences = self.codec.decode_greedy(logits, output_frames(batch["widths"]))
        loss = self.ctc_loss(logits, batch["labels"], batch["widths"])
        self.val_metrics.update(texts, batch["labels"], confidences, loss=loss)
        if batch["unreadable"]:  # read as nothing, as evaluation counts them
            self.val_metrics.update([""] * len(batch["unreadable"]), [label for _, label in batch["unreadable"]])
        if batch_idx == 0 and self.global_rank == 0:
            n = self.hparams.grid_size
            self._grid = (batch["images"][:n].cpu(), batch["widths"][:n].tolist(), texts[:n], batch["labels"][:n])

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.val_metrics, prog_bar=True)
        if self._grid is not None and not self.trainer.sanity_checking:
            self._log_grid(*self._grid)
        self._grid = None

    def _log_metrics(self, prefix: str, metrics: TextMetrics, prog_bar: bool = False) -> dict[str, float]:
        if metrics.update_count == 0:
            return {}
        values = {name: float(value) for name, value in metrics.compute().items()}
        for name, value in values.items():
            shown = prog_bar and name in ("char_accuracy", "word_accuracy")
            self.log(f"{prefix}/{name}", value, prog_bar=shown, sync_dist=False)
        metrics.reset()
        return values

    def _log_grid(self, images: torch.Tensor, widths: list[int], texts: list[str], labels: list[str]) -> None:
        grid = prediction_grid([im[0, :, :w].numpy() for im, w in zip(images, widths)], texts, labels)
        for logger in self.loggers:
            if hasattr(logger.experiment, "add_image"):
                logger.experiment.add_image(
                    "val/predictions", torch.from_numpy(grid).permute(2, 0, 1), self.global_step
                )

    # ------------------------------------------------------------ checkpoint
    def load_pretrained(self, state_dict: dict, alphabet: str) -> None:
        """Weights of a model trained on ``alphabet``, a prefix of this model's alphabet:
        its classes keep their weights, characters added since start from this model's
        initialisation."""
        if not self.codec.alphabet.startswith(alphabet):
            raise ValueError(f"the checkpoint's alphabet {alphabet!r} is not a prefix of {self.codec.alphabet!r}")
        own = self.state_dict()
        for name, tensor in state_dict.items():
            if name not in own:
                raise ValueError(f"checkpoint weight {name} has no place in this model")
            if own[name].shape == tensor.shape:
                own[name] = tensor
            else:  # the output layer: one row per class, the new classes at the end
                own[name][: tensor.shape[0]] = tensor
        self.load_state_dict(own)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Resuming: the checkpoint must be of this model (same alphabet, same shape)."""
        theirs = checkpoint.get("hyper_parameters", {})
        if theirs.get("alphabet", self.codec.alphabet) != self.codec.alphabet:
            raise ValueError(f"cannot resume: {alphabet_difference(theirs['alphabet'], self.codec.alphabet)}")
        differ = [
            f"{k}={theirs[k]!r} (config: {self.hparams[k]!r})"
            for k in ARCHITECTURE
            if k in theirs and theirs[k] != self.hparams[k]
        ]
        if differ:
            raise ValueError(f"cannot resume: the checkpoint's model has {', '.join(differ)}")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Plain containers, so that torch.load(weights_only=True) can read them back.
        checkpoint["hyper_parameters"] = dict(checkpoint.get("hyper_parameters", {}))
        if self.data_config is not None:
            checkpoint["data_config"] = self.data_config

    # -------------------------------------------------------------- optimiser
    def configure_optimizers(self):
        # Fused: one kernel for all parameters, and it can skip a non-finite update on the
        # device (configure_gradient_clipping); not under 16-mixed, whose scaler skips those.
        fused = self.hparams.skip_nonfinite and self.trainer.precision != "16-mixed"
        optimizer = torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay, fused=fused or None
        )
        if not self.hparams.schedule and not self.hparams.warmup_steps:
            return optimizer
        total = max(1, self.trainer.estimated_stepping_batches)
        warmup = min(self.hparams.warmup_steps, total - 1)

        def factor(step: int) -> float:
            # Linear warm-up, then cosine annealing to zero over the rest of the run
            # when ``schedule`` is on (the seed's CosineAnnealingLR), else constant.
            if step < warmup:
                return (step + 1) / warmup
            if not self.hparams.schedule:
                return 1.0
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
