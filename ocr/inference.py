"""Running a trained model on batches: device, precision and decoding in one place."""

from __future__ import annotations

import contextlib

import torch

from ocr.hydra_utils import cpu_has_bf16


def pick_device(device: str | None = None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def autocast(device: torch.device, precision: str = "auto"):
    """bf16 autocast where the hardware computes bf16 natively (``auto``), or as asked."""
    if precision == "auto":
        use = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    else:
        use = str(precision).startswith("bf16")
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
