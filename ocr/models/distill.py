"""Distillation: a network learns, besides the labels, the per-frame readings of trained
models, its teachers. A small network that reads fast on a CPU learns from a large one
trained on a GPU, or one network from an ensemble of several.

The teachers read each training batch as the student sees it (augmented), and the
student's loss adds how far its distribution over the classes lies from theirs (their
mean, for an ensemble) at each of the image's own frames: the Kullback-Leibler divergence
of frame-level distillation for CTC (Takashima et al., 2018), softened by a temperature.
Teachers and student must share the alphabet, the image height and the frames an image
makes (every CRNN of this package does, whatever its widths).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ocr.geometry import output_frames
from ocr.options import check_number
from ocr.text import alphabet_difference


class Teachers:
    """Trained networks, in eval mode and never updated, and what their readings weigh in a
    student's loss: ``(1 - weight) * CTC + weight * distillation``. A plain object, not a
    module: their weights stay out of the student's parameters, optimiser and checkpoints."""

    def __init__(self, nets: Sequence[nn.Module], weight: float = 0.9, temperature: float = 1.0):
        check_number("distill.weight", weight, float, minimum=0, maximum=1)
        check_number("distill.temperature", temperature, float, minimum=0.01)
        self.nets = [net.eval().requires_grad_(False) for net in nets]
        self.weight, self.temperature = float(weight), float(temperature)

    @classmethod
    def load(cls, paths, alphabet: str, imgH: int, **options) -> Teachers:
        """The networks of the checkpoints ``paths`` (one, or a list: an ensemble; shipped
        models by name), checked against the student's ``alphabet`` and ``imgH``."""
        from ocr.checkpoint import reader_from_checkpoint
        from ocr.weights import model_paths

        nets = []
        for path in model_paths(paths):
            if not path.is_file():
                raise ValueError(f"distill.teacher={path}: no such checkpoint (a .ckpt file or a shipped model's name)")
            try:
                reader, codec, height = reader_from_checkpoint(path)
            except ValueError as err:
                raise ValueError(f"distill.teacher={path}: {err}") from None
            if codec.alphabet != alphabet:
                raise ValueError(f"distill.teacher={path}: {alphabet_difference(codec.alphabet, alphabet)}")
            if height != imgH:
                raise ValueError(f"distill.teacher={path}: it reads images {height} px high, the student {imgH}")
            nets.append(reader.net)
        return cls(nets, **options)

    def to(self, device: torch.device) -> Teachers:
        self.nets = [net.to(device) for net in self.nets]
        return self

    def loss(self, logits: torch.Tensor, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """The mean over every image's own frames of KL(teachers || student), at the
        temperature, times its square (so that the gradients keep their scale as it
        changes). ``logits``: the student's ``(B, T, classes)`` for ``images`` (normalised,
        as the student read them) of ``widths`` before padding."""
        t = self.temperature
        with torch.no_grad():
            read = [net(images, widths.to(images.device)).float() for net in self.nets]
        if read[0].shape != logits.shape:
            theirs, ours = tuple(read[0].shape), tuple(logits.shape)
            raise ValueError(f"distill.teacher: its network makes logits {theirs} of a batch, the student {ours}")
        target = torch.stack([(r / t).softmax(-1) for r in read]).mean(0)
        log_student = (logits.float() / t).log_softmax(-1)
        divergence = (target * (target.clamp_min(1e-12).log() - log_student)).sum(-1)  # (B, T)
        frames = output_frames(widths.cpu()).clamp(max=logits.shape[1]).to(logits.device)
        own = torch.arange(logits.shape[1], device=logits.device)[None, :] < frames[:, None]
        return (divergence * own).sum() / own.sum().clamp(min=1) * t * t
