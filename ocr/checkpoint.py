"""Loading checkpoints written by train.py, safely (no code runs from a checkpoint file)."""

from __future__ import annotations

from pathlib import Path

import torch


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents, loaded with ``weights_only=True``; clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (ckpt_path=...)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a checkpoint, or pickled code
        raise ValueError(f"checkpoint {path} cannot be read: {type(err).__name__}: {str(err)[:300]}") from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise ValueError(f"checkpoint {path} was not written by train.py (no state_dict/hyper_parameters)")
    return checkpoint


def model_from_checkpoint(path: str | Path):
    """An ``OCRSystem`` with the checkpoint's hyperparameters and weights, in eval mode."""
    from ocr.models.system import OCRSystem

    checkpoint = load_checkpoint(path)
    model = OCRSystem(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    model.data_config = checkpoint.get("data_config")
    return model.eval()


def slim_checkpoint(source: str | Path, target: str | Path) -> Path:
    """A checkpoint for shipping: float16 weights, hyperparameters and data config only
    (no optimiser state), loadable by ``model_from_checkpoint``."""
    checkpoint = load_checkpoint(source)
    slim = {
        "state_dict": {k: v.half() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()},
        "hyper_parameters": checkpoint["hyper_parameters"],
        "data_config": checkpoint.get("data_config"),
    }
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, target)
    return target
