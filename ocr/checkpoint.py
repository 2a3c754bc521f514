"""Loading checkpoints written by train.py, safely: no code runs from a checkpoint file,
nothing in it is instantiated, and weights that are not finite are refused."""

from __future__ import annotations

import inspect
from pathlib import Path

import torch

from ocr.files import atomic_write, check_plain
from ocr.text import CTCCodec


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents, loaded with ``weights_only=True`` and checked: plain
    hyperparameters and finite weights; clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (ckpt_path=...)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a checkpoint, or pickled code
        raise ValueError(f"checkpoint {path} cannot be read: {type(err).__name__}: {str(err)[:300]}") from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise ValueError(f"checkpoint {path} was not written by train.py (no state_dict/hyper_parameters)")
    check_plain(checkpoint["hyper_parameters"], f"checkpoint {path}: hyper_parameters")
    for name, tensor in checkpoint["state_dict"].items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(
                f"checkpoint {path}: weight {name} holds {int((~torch.isfinite(tensor)).sum())} non-finite "
                "value(s); the file is damaged or the run diverged: use another checkpoint"
            )
    return checkpoint


# Hyperparameters of checkpoints written by earlier versions that models no longer take.
RETIRED = ("grid_size",)


def model_from_checkpoint(path: str | Path):
    """An ``OCRSystem`` with the checkpoint's hyperparameters and weights, in eval mode.
    Checkpoints of earlier versions (the data config beside the hyperparameters, retired
    hyperparameters) load too."""
    from ocr.models.system import OCRSystem

    checkpoint = load_checkpoint(path)
    hyper_parameters = {k: v for k, v in checkpoint["hyper_parameters"].items() if k not in RETIRED}
    if checkpoint.get("data_config") is not None:
        from ocr.data.datamodule import upgrade_data_config

        hyper_parameters.setdefault("data", upgrade_data_config(checkpoint["data_config"]))
    unknown = set(hyper_parameters) - set(inspect.signature(OCRSystem).parameters)
    if unknown:
        raise ValueError(f"checkpoint {path}: unknown hyperparameters {sorted(unknown)}; was it written by train.py?")
    try:
        model = OCRSystem(**hyper_parameters)
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"checkpoint {path} does not describe a model this version builds: {err}") from None
    return model.eval()


def reader_from_checkpoint(path: str | Path):
    """The checkpoint's network alone, for reading (``ocr.models.networks.UInt8Model``, in
    eval mode), with its alphabet and image height. Built without the LightningModule, whose
    import (Lightning, torchmetrics) takes seconds of a short ``predict.py`` run."""
    from ocr.models.networks import ARCHITECTURE, UInt8Model, network

    checkpoint = load_checkpoint(path)
    hyper_parameters = checkpoint["hyper_parameters"]
    if "alphabet" not in hyper_parameters:
        raise ValueError(f"checkpoint {path} was not written by train.py (no alphabet among its hyperparameters)")
    codec = CTCCodec(hyper_parameters["alphabet"])
    sizes = {k: hyper_parameters[k] for k in ARCHITECTURE[1:] if k in hyper_parameters}  # "net" names the class
    if "channels" in sizes:
        sizes["channels"] = tuple(sizes["channels"])
    prefix = "model."
    weights = {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    try:
        _, build = network(hyper_parameters.get("net", "crnn"))
        net = build(nClasses=codec.num_classes, **sizes)
        net.load_state_dict(weights)  # float16 weights of shipped files become the network's float32
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"checkpoint {path} does not describe a model this version builds: {err}") from None
    return UInt8Model(net).eval(), codec, sizes["imgH"]


def slim_checkpoint(source: str | Path, target: str | Path) -> Path:
    """A checkpoint for shipping: hyperparameters (the data config among them) and weights
    only (no optimiser state), the weights in float16 where float16 holds them. Buffers (batch
    norm statistics, whose variances can exceed float16's 65,504) stay float32, and so
    does any weight that float16 would turn into infinities."""
    checkpoint = load_checkpoint(source)
    model = model_from_checkpoint(source)
    buffers = {f"model.{name}" for name, _ in model.model.named_buffers()}
    state = {}
    for name, tensor in checkpoint["state_dict"].items():
        half = tensor.half() if tensor.is_floating_point() and name not in buffers else tensor
        state[name] = half if torch.isfinite(half).all() or not half.is_floating_point() else tensor
    slim = {"state_dict": state, "hyper_parameters": dict(model.hparams)}
    atomic_write(Path(target), lambda f: torch.save(slim, f))
    return Path(target)


def average_checkpoints(sources: list[str | Path], target: str | Path) -> Path:
    """One checkpoint whose weights are the mean of the ``sources``' (a "model soup",
    Wortsman et al. 2022: runs fine-tuned from one starting model, averaged, often read
    better than any of them alone, at one model's cost; docs/experiments.md). All must be
    the same network with the same alphabet; batch norm statistics are averaged like the
    weights, counters and hyperparameters (the data config among them) are the first's."""
    if len(sources) < 2:
        raise ValueError(f"averaging needs at least two checkpoints, got {len(sources)}")
    checkpoints = [load_checkpoint(source) for source in sources]
    first, first_state = checkpoints[0]["hyper_parameters"], checkpoints[0]["state_dict"]
    shapes = {k: tuple(v.shape) for k, v in first_state.items()}
    for source, checkpoint in zip(sources[1:], checkpoints[1:]):
        theirs, state = checkpoint["hyper_parameters"], checkpoint["state_dict"]
        if theirs.get("alphabet") != first.get("alphabet"):
            raise ValueError(f"cannot average {source} with {sources[0]}: their alphabets differ")
        differ = sorted(set(shapes) ^ set(state)) or [k for k, v in state.items() if tuple(v.shape) != shapes[k]]
        if differ:
            raise ValueError(f"cannot average {source} with {sources[0]}: other networks (weights {differ[:3]} differ)")
    state = {
        name: torch.stack([c["state_dict"][name].float() for c in checkpoints]).mean(0).to(tensor.dtype)
        if tensor.is_floating_point()
        else tensor
        for name, tensor in first_state.items()
    }
    averaged = {"state_dict": state, "hyper_parameters": first}
    atomic_write(Path(target), lambda f: torch.save(averaged, f))
    return Path(target)
