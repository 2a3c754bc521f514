"""Augmentation of whole training batches on the model's device.

Each image draws its own parameters (torchvision's v2 transforms draw one set per call,
which for a batch would give every image the same change), with tensor ops only, so no
step waits on the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ocr.geometry import MARGIN, label_width


@dataclass
class Augment:
    """Probabilities, per image, of each change to a batch normalised to [-1, 1]."""

    invert: float = 0.0  # light text on dark and the reverse
    contrast: float = 0.0  # contrast x [0.5, 1.5], brightness +/- 0.3
    noise: float = 0.0  # Gaussian noise, standard deviation up to 0.15 (of the range 2)
    blur: float = 0.0  # Gaussian blur, sigma 1
    motion: float = 0.0  # motion blur: a streak of 2-6 px in any direction, as a camera moved while taking it
    lowres: float = 0.0  # shrunk to 30-70% (one factor per batch) and enlarged back: low-resolution photos
    stretch: float = 0.0  # width x [0.6, 1.4]: condensed and wide lettering (needs widths and labels)
    warp: float = 0.0  # turned up to 5 degrees, sheared +/- 0.3, height x [0.8, 1.05]: askew, slanted, loose crops

    def __call__(
        self, images: torch.Tensor, widths: torch.Tensor, labels: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The changed images and their widths. ``widths``: each image's width before
        padding, on the host; with ``labels`` they bound the stretch, so that no text is cut off, each
        label keeps the frames it needs and each image keeps its margin of background."""
        b = images.shape[0]

        def chosen(p: float) -> torch.Tensor:
            return torch.rand(b, 1, 1, 1, device=images.device) < p

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.empty(b, 1, 1, 1, device=images.device).uniform_(low, high)

        x = images
        if self.contrast:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            changed = (x - mean) * uniform(0.5, 1.5) + mean + uniform(-0.3, 0.3)
            x = torch.where(chosen(self.contrast), changed.clamp(-1, 1), x)
        if self.invert:
            x = torch.where(chosen(self.invert), -x, x)
        if self.blur:
            x = torch.where(chosen(self.blur), _blur(x), x)
        if self.motion:
            x = torch.where(chosen(self.motion), _motion_blur(x), x)
        if self.stretch and labels is not None:
            factors = _stretch_factors(widths, labels, x.shape[-1] - MARGIN)
            factors = torch.where(torch.rand(b) < self.stretch, factors, torch.ones(b))
            x = _stretch(x, factors.to(x.device, non_blocking=True))
            widths = torch.ceil(widths * factors).long()
        if self.warp:
            x = torch.where(chosen(self.warp), _warp(x, widths), x)
        if self.lowres:
            x = torch.where(chosen(self.lowres), _lowres(x, float(torch.empty(1).uniform_(0.3, 0.7))), x)
        if self.noise:
            noisy = x + torch.randn_like(x) * uniform(0.0, 0.15)
            x = torch.where(chosen(self.noise), noisy.clamp(-1, 1), x)
        return x, widths


def _blur(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    r = torch.arange(-2, 3, device=images.device, dtype=images.dtype)
    g = torch.exp(-(r**2) / (2 * sigma**2))
    kernel = (g[:, None] * g[None, :]) / g.sum() ** 2
    channels = images.shape[1]
    return F.conv2d(
        F.pad(images, (2, 2, 2, 2), mode="replicate"), kernel.expand(channels, 1, 5, 5).contiguous(), groups=channels
    )


def _motion_blur(images: torch.Tensor, size: int = 7) -> torch.Tensor:
    """Each image averaged along a line segment of its own direction and length (2-6 px):
    the kernel's weight at each tap falls from 1 on the segment to 0 a pixel away."""
    b, channels = images.shape[:2]
    dev, dt = images.device, torch.float32
    angle = torch.rand(b, device=dev, dtype=dt) * math.pi
    half = torch.empty(b, device=dev, dtype=dt).uniform_(1.0, 3.0)[:, None, None]
    offsets = torch.arange(size, device=dev, dtype=dt) - size // 2
    dy, dx = offsets[None, :, None], offsets[None, None, :]  # (1, size, 1), (1, 1, size)
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    along = (dx * cos + dy * sin).clamp(-half, half)  # each tap's nearest point on the segment
    distance = torch.hypot(dx - along * cos, dy - along * sin)
    kernel = (1 - distance).clamp(min=0)
    kernel = (kernel / kernel.sum(dim=(1, 2), keepdim=True)).to(images.dtype)
    pad = size // 2
    padded = F.pad(images.reshape(1, b * channels, *images.shape[2:]), (pad, pad, pad, pad), mode="replicate")
    weights = kernel.repeat_interleave(channels, dim=0)[:, None]  # (b * channels, 1, size, size)
    return F.conv2d(padded, weights, groups=b * channels).reshape(images.shape)


def _lowres(images: torch.Tensor, factor: float) -> torch.Tensor:
    h, w = images.shape[-2:]
    small = F.interpolate(images, size=(max(1, round(h * factor)), max(1, round(w * factor))), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def _stretch_factors(widths: torch.Tensor, labels: Sequence[str], padded: int, low=0.6, high=1.4) -> torch.Tensor:
    """A width factor per image, log-uniform in [low, high], clamped so that the image
    stays inside the padded width and wide enough for its label's CTC frames."""
    widths = widths.float().clamp(min=1)
    factors = torch.empty(len(widths)).uniform_(math.log(low), math.log(high)).exp()
    needed = torch.tensor([label_width(label) for label in labels], dtype=torch.float32)
    return torch.minimum(torch.maximum(factors, needed / widths), padded / widths)


def _stretch(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Scale each image's width by its factor, anchored at the left edge; what is
    uncovered on the right repeats the last column (the padding's background)."""
    scale = 1 / factors.to(images.dtype)
    theta = torch.zeros(images.shape[0], 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1] = scale, scale - 1, 1
    return _resample(images, F.affine_grid(theta, list(images.shape), align_corners=False))


def _warp(images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Each image turned, sheared and scaled in height about its own centre (its width
    before padding: ``widths``, on the host). The angle is bounded so that the ends of a
    long word move at most 15% of the height: the text stays inside the image."""
    b, _, h, w = images.shape
    dev, dt = images.device, images.dtype
    widths = widths.to(dev, dt).clamp(min=1)
    limit = torch.asin((0.3 * h / widths).clamp(max=1.0)).clamp(max=math.radians(5))
    angle = (torch.rand(b, device=dev, dtype=dt) * 2 - 1) * limit
    shear = torch.empty(b, device=dev, dtype=dt).uniform_(-0.3, 0.3)
    height = torch.empty(b, device=dev, dtype=dt).uniform_(0.8, 1.05)
    cx, cy = (widths / 2)[:, None, None], h / 2
    dx = (torch.arange(w, device=dev, dtype=dt) + 0.5)[None, None, :] - cx  # (b, 1, w)
    dy = (torch.arange(h, device=dev, dtype=dt) + 0.5)[None, :, None] - cy  # (1, h, 1)
    cos, sin = (f(angle)[:, None, None] for f in (torch.cos, torch.sin))
    # Where each output pixel samples its input (pixel centres at +0.5).
    x = cx + cos * dx - sin * dy + shear[:, None, None] * dy
    y = cy + (sin * dx + cos * dy) / height[:, None, None]
    return _resample(images, torch.stack((2 * x / w - 1, 2 * y / h - 1), dim=-1))


def _resample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``images`` sampled (bilinear) at ``grid`` (normalised, pixel centres), what lies
    outside repeating the nearest edge; rounding can overshoot the range by an ulp."""
    resampled = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return resampled.clamp(-1, 1)
