"""Augmentation of whole training batches on the model's device.

Each image draws its own parameters (torchvision's v2 transforms draw one set per call,
which for a batch would give every image the same change), with tensor ops only, so no
step waits on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augment:
    """Probabilities, per image, of each change to a batch normalised to [-1, 1]."""

    invert: float = 0.0  # light text on dark and the reverse
    contrast: float = 0.0  # contrast x [0.5, 1.5], brightness +/- 0.3
    noise: float = 0.0  # Gaussian noise, standard deviation up to 0.15 (of the range 2)
    blur: float = 0.0  # Gaussian blur, sigma 1

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
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
        if self.noise:
            noisy = x + torch.randn_like(x) * uniform(0.0, 0.15)
            x = torch.where(chosen(self.noise), noisy.clamp(-1, 1), x)
        return x


def _blur(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    r = torch.arange(-2, 3, device=images.device, dtype=images.dtype)
    g = torch.exp(-(r**2) / (2 * sigma**2))
    kernel = (g[:, None] * g[None, :]) / g.sum() ** 2
    channels = images.shape[1]
    return F.conv2d(
        F.pad(images, (2, 2, 2, 2), mode="replicate"), kernel.expand(channels, 1, 5, 5).contiguous(), groups=channels
    )
