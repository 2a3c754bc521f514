"""The CRNN of Shi et al. (2015): 7 convolutions, then 2 bidirectional LSTMs.

The blog post's architecture and argument names (imgH, nChannels, nHidden, leakyRelu), with
the class count fixed: ``nClasses`` includes the CTC blank. ``channels`` thins every
convolution (the paper's widths by default) for a faster CPU variant; ``headNorm`` adds a
layer norm before the output layer (for alphabets of thousands of characters).
"""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

from ocr.geometry import output_frames

PAPER_CHANNELS = (64, 128, 256, 256, 512, 512, 512)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to floats in [-1, 1] (the blog post's ToTensor + Normalize(0.5, 0.5)):
    what the CRNN reads; images travel as uint8 until the device."""
    return images.float().div_(127.5).sub_(1.0)


class BidirectionalLSTM(nn.Module):
    """A bidirectional LSTM and a linear layer. Given each sequence's length, its outputs
    depend on its own frames only: the backward direction starts at the sequence's own
    last frame, not at the batch's (the sequence is reversed within its length, read
    forwards with the backward weights, and reversed back: the same shapes for every
    batch, so it exports to ONNX and runs in CUDA graphs)."""

    def __init__(self, nIn: int, nHidden: int, nOut: int, norm: bool = False):
        super().__init__()
        self.rnn = nn.LSTM(nIn, nHidden, bidirectional=True, batch_first=True)
        # Normalising each frame's features before the linear layer keeps a large alphabet
        # from learning one common direction for every class (docs/scripts.md, Chinese).
        self.norm = nn.LayerNorm(nHidden * 2) if norm else nn.Identity()
        self.embedding = nn.Linear(nHidden * 2, nOut)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``(B, T, nIn) -> (B, T, nOut)``; frames at and after ``lengths`` (B,) are padding."""
        if lengths is None:
            recurrent, _ = self.rnn(x)
            return self.embedding(self.norm(recurrent))
        rnn = self.rnn
        order = _reversed_within(lengths, x.shape[1])
        forward = _lstm(x, [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0], self.training)
        backward = _lstm(
            _gather_frames(x, order),
            [rnn.weight_ih_l0_reverse, rnn.weight_hh_l0_reverse, rnn.bias_ih_l0_reverse, rnn.bias_hh_l0_reverse],
            self.training,
        )
        return self.embedding(self.norm(torch.cat([forward, _gather_frames(backward, order)], dim=2)))


def _reversed_within(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """For each sequence, the frame order that reverses its first ``length`` frames and
    leaves the rest in place, ``(B, T)``."""
    t = torch.arange(frames, device=lengths.device)[None, :]
    end = lengths.to(t.dtype)[:, None]
    return torch.where(t < end, end - 1 - t, t)


def _gather_frames(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    return x.gather(1, order[:, :, None].expand(-1, -1, x.shape[2]))


def _lstm(x: torch.Tensor, weights: List[torch.Tensor], training: bool) -> torch.Tensor:
    """One direction of one LSTM layer over ``x`` (B, T, F), from zero states."""
    zeros = x.new_zeros(1, x.shape[0], weights[1].shape[1])
    output, _, _ = torch.lstm(x, (zeros, zeros), weights, True, 1, 0.0, training, False, True)
    return output


class PooledConv2d(nn.Conv2d):
    """Convolution, activation, max pooling, computed with the pooling first and the bias
    and activation after it: the same values (a constant per channel and a rising
    activation both commute with a maximum), but they pass over a quarter or half as
    many values. Faster wherever time goes to moving bytes: a GPU, and a CPU too (8-12%
    of a training step, 10-35% of inference, bf16 or float32). ``seed_order``: the
    usual order, for ONNX exports (onnxruntime fuses it into the convolution). Its
    parameters are an ``nn.Conv2d``'s, so checkpoints keep their keys."""

    def __init__(self, nIn: int, nOut: int, kernel: int, padding: int, pool: nn.MaxPool2d, activation: nn.Module):
        super().__init__(nIn, nOut, kernel, 1, padding)
        self.pool, self.activation = pool, activation
        self.seed_order = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.seed_order:
            return self.pool(self.activation(self._conv_forward(x, self.weight, self.bias)))
        return self.pool_first(x)

    def pool_first(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias
        assert bias is not None
        pooled = self.pool(self._conv_forward(x, self.weight, None))
        return self.activation(pooled + bias.to(pooled.dtype).view(1, -1, 1, 1))


class CRNN(nn.Module):
    def __init__(
        self,
        imgH: int,
        nChannels: int,
        nHidden: int,
        nClasses: int,
        leakyRelu: bool = False,
        channels: tuple[int, ...] = PAPER_CHANNELS,
        headNorm: bool = False,
    ):
        super().__init__()
        if imgH % 16 != 0 or imgH <= 0:
            raise ValueError(f"imgH must be a positive multiple of 16, got imgH={imgH} (try 32)")
        if len(channels) != 7:
            raise ValueError(f"channels must list 7 widths, one per convolution, got {channels}")
        kernels = (3, 3, 3, 3, 3, 3, 2)
        paddings = (1, 1, 1, 1, 1, 1, 0)
        batch_norm = (False, False, True, False, True, False, True)
        # After these four poolings the height is imgH / 16; the last convolution
        # (kernel 2, no padding) brings 32 px down to one row.
        poolings = {
            0: nn.MaxPool2d(2, 2),
            1: nn.MaxPool2d(2, 2),
            3: nn.MaxPool2d((2, 2), (2, 1), (0, 1)),
            5: nn.MaxPool2d((2, 2), (2, 1), (0, 1)),
        }
        layers: list[nn.Module] = []
        for i, nOut in enumerate(channels):
            nIn = nChannels if i == 0 else channels[i - 1]
            activation = nn.LeakyReLU(0.2, inplace=True) if leakyRelu else nn.ReLU(inplace=True)
            if i in poolings:  # (no batch norm on these layers)
                # Identity holds the places of the activation and pooling in the blog post's
                # layer list, so that the weights keep their names (cnn.<index>.*).
                pooled = PooledConv2d(nIn, nOut, kernels[i], paddings[i], poolings[i], activation)
                layers += [pooled, nn.Identity(), nn.Identity()]
                continue
            layers.append(nn.Conv2d(nIn, nOut, kernels[i], 1, paddings[i]))
            if batch_norm[i]:
                layers.append(nn.BatchNorm2d(nOut))
            layers.append(activation)
        self.cnn = nn.Sequential(*layers)
        # For imgH > 32 the remaining rows are averaged into one.
        self.squeeze_height = nn.AdaptiveAvgPool2d((1, None)) if imgH > 32 else nn.Identity()
        self.rnn = nn.Sequential(
            BidirectionalLSTM(channels[-1], nHidden, nHidden),
            BidirectionalLSTM(nHidden, nHidden, nClasses, norm=headNorm),
        )

    def forward(self, images: torch.Tensor, widths: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Images ``(B, nChannels, imgH, W)`` to logits ``(B, T, nClasses)``.

        ``widths`` (B,): each image's width before padding. With them, each image's first
        ``output_frames(width)`` frames are its own: they do not depend on the other
        images of the batch, if each image is followed by ``MARGIN`` columns of its own
        background (``ocr.geometry``); the frames after them are padding. Without them,
        every frame reads the whole padded row (a batch of one unpadded image is exact).
        """
        features = self.squeeze_height(self.cnn(images))
        b, c, h, w = features.shape
        if h != 1:
            raise ValueError(f"the CNN left {h} rows for input height {images.shape[2]}; expected 1")
        sequence = features.squeeze(2).transpose(1, 2)
        lengths = None if widths is None else torch.clamp(output_frames(widths), max=w)
        return self.rnn[1](self.rnn[0](sequence, lengths), lengths)
