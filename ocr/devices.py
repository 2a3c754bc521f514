"""Where models run: the trainer's devices from ``trainer.gpus``, and the device and
precision of inference."""

from __future__ import annotations

import contextlib

import torch


def trainer_devices(cfg: dict, cuda_devices: int) -> dict:
    """A trainer config with the ``gpus`` convenience turned into Lightning 2's
    accelerator/devices/strategy, and ``precision: auto`` into a precision.

    ``gpus=None`` picks the GPU when there is one, ``0`` the CPU, ``N`` N GPUs (DDP when
    N > 1). ``accelerator``/``devices`` given explicitly are kept as they are.
    """
    cfg = dict(cfg)
    gpus = cfg.pop("gpus", None)
    explicit = cfg.get("accelerator") is not None or cfg.get("devices") is not None
    if explicit and gpus is not None:
        raise ValueError("set either trainer.gpus or trainer.accelerator/devices, not both")
    if not explicit:
        if gpus is None:
            gpus = 1 if cuda_devices else 0
        if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
            raise ValueError(f"trainer.gpus must be a whole number >= 0 or null, got {gpus!r}")
        if gpus > cuda_devices:
            raise ValueError(
                f"trainer.gpus={gpus} but this machine has {cuda_devices} CUDA GPU(s); use trainer.gpus=0 for the CPU"
            )
        cfg["accelerator"], cfg["devices"] = ("gpu", gpus) if gpus else ("cpu", cfg.get("devices") or 1)
        if gpus > 1 and cfg.get("strategy", "auto") == "auto":
            cfg["strategy"] = "ddp"
    cfg["accelerator"] = cfg.get("accelerator") or "auto"
    cfg["devices"] = cfg.get("devices") or "auto"
    if cfg.get("precision", "auto") == "auto":
        on_gpu = cfg["accelerator"] in ("gpu", "cuda") or (cfg["accelerator"] == "auto" and cuda_devices > 0)
        bf16 = torch.cuda.is_bf16_supported() if on_gpu else cpu_has_bf16()
        cfg["precision"] = "bf16-mixed" if bf16 else "32-true"
    return cfg


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): there bf16 autocast
    trains this CRNN about twice as fast as float32; elsewhere it would be emulated."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers of torch; absent means unknown, so no
        return False


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
