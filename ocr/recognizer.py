"""Reading images with a trained model: ``Recognizer.from_checkpoint(path).read(images)``."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ocr.data.batching import collate
from ocr.data.images import read_image
from ocr.inference import autocast, pick_device

ImageLike = str | Path | bytes | np.ndarray | torch.Tensor | Image.Image


@dataclass
class Reading:
    text: str
    confidence: float


class Recognizer:
    """A CRNN ready for inference: batching by width, device and precision handled.

    ``read`` takes paths, encoded bytes, PIL images, arrays (any mode Pillow knows) or
    uint8 tensors already ``imgH`` high, and returns one ``Reading`` per image, in order.
    """

    def __init__(self, model, device: str | None = None, precision: str = "auto", batch_size: int = 256,
                 max_width: int = 800):
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.codec = model.codec
        self.imgH = model.hparams.imgH
        self.precision, self.batch_size, self.max_width = precision, batch_size, max_width

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs) -> "Recognizer":
        from ocr.checkpoint import model_from_checkpoint

        return cls(model_from_checkpoint(path), **kwargs)

    def prepare(self, image, name: str | None = None) -> np.ndarray:
        """One image as the model's input: uint8 grayscale, ``imgH`` rows."""
        if isinstance(image, torch.Tensor):
            image = image.squeeze().cpu().numpy()
            if image.ndim == 2 and image.shape[0] == self.imgH and image.dtype == np.uint8:
                return image
        return read_image(image, self.imgH, self.max_width, name=name)

    @torch.inference_mode()
    def read_prepared(self, images: Sequence[np.ndarray]) -> list[Reading]:
        """Read images already prepared (see ``prepare``), batched by similar width.

        On a GPU, batch k+1 is assembled and launched before batch k's results are
        turned into text, so the host's work overlaps the device's.
        """
        order = np.argsort([im.shape[1] for im in images], kind="stable")
        readings: list[Reading | None] = [None] * len(images)
        pending = None
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            pixels = collate([(int(i), images[i], "") for i in chosen])["images"]
            if self.device.type == "cuda":
                pixels = pixels.pin_memory()
            with autocast(self.device, self.precision):
                logits = self.model(pixels.to(self.device, non_blocking=True))
            indices, confidences = self.codec.best_path(logits)
            launched = (chosen, _to_host(indices), _to_host(confidences), _event(self.device))
            if pending is not None:
                self._finish(pending, readings)
            pending = launched
        if pending is not None:
            self._finish(pending, readings)
        return readings

    def _finish(self, pending: tuple, readings: list) -> None:
        chosen, indices, confidences, event = pending
        if event is not None:
            event.synchronize()
        for i, text, conf in zip(chosen, self.codec.decode_indices(indices.numpy()), confidences.tolist()):
            readings[i] = Reading(text, conf)

    def read(self, images: ImageLike | Iterable[ImageLike]) -> list[Reading]:
        single = isinstance(images, (str, Path, bytes, np.ndarray, Image.Image))
        if single or (isinstance(images, torch.Tensor) and images.dim() <= 3):
            images = [images]
        return self.read_prepared([self.prepare(image) for image in images])


def _to_host(tensor: torch.Tensor) -> torch.Tensor:
    """Start copying ``tensor`` to (pinned) host memory without waiting for it."""
    if tensor.device.type != "cuda":
        return tensor
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    return host.copy_(tensor, non_blocking=True)


def _event(device: torch.device) -> torch.cuda.Event | None:
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record()
    return event
