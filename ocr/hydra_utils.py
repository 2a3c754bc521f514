"""Turning composed configs into Lightning objects."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from ocr.options import check_number

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "conf"
os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))


def build(node: DictConfig, **kwargs) -> Any:
    """``hydra.utils.instantiate``, but a wrong value (ValueError) or a missing file
    (OSError) raised while building comes out as itself: its message names the option,
    and Hydra's wrapping would bury it."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, (ValueError, OSError)):
            raise err.__cause__ from None
        raise


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Objects of a config group whose entries each have a ``_target_`` (callbacks, loggers)."""
    if not cfg:
        return []
    return [build(node) for node in cfg.values() if isinstance(node, DictConfig) and "_target_" in node]


# Numeric trainer options, their kind and least value (Lightning's own checks come late
# and do not name the option).
TRAINER_NUMBERS = {
    "max_epochs": (int, -1),
    "min_epochs": (int, 0),
    "max_steps": (int, -1),
    "num_nodes": (int, 1),
    "log_every_n_steps": (int, 1),
    "check_val_every_n_epoch": (int, 1),
    "num_sanity_val_steps": (int, -1),
    "accumulate_grad_batches": (int, 1),
    "gradient_clip_val": (float, 0),
    "limit_train_batches": (float, 0),
    "limit_val_batches": (float, 0),
    "val_check_interval": (float, 0),
}


def trainer_kwargs(cfg: dict, cuda_devices: int) -> dict:
    """Map the seed-style ``gpus`` option onto Lightning 2's accelerator/devices/strategy.

    ``gpus=None`` picks the GPU when there is one, ``0`` the CPU, ``N`` N GPUs (DDP when
    N > 1). ``accelerator``/``devices`` given explicitly are kept as they are.
    """
    kwargs = {k: v for k, v in cfg.items() if k != "_target_"}
    for name, (kind, minimum) in TRAINER_NUMBERS.items():
        if name in kwargs:
            check_number(f"trainer.{name}", kwargs[name], kind, minimum=minimum, optional=True)
    gpus = kwargs.pop("gpus", None)
    explicit = kwargs.get("accelerator") is not None or kwargs.get("devices") is not None
    if explicit and gpus is not None:
        raise ValueError("set either trainer.gpus or trainer.accelerator/devices, not both")
    if not explicit:
        if gpus is None:
            gpus = 1 if cuda_devices else 0
        if not isinstance(gpus, int) or gpus < 0:
            raise ValueError(f"trainer.gpus must be a whole number >= 0 or null, got {gpus!r}")
        if gpus > cuda_devices:
            raise ValueError(
                f"trainer.gpus={gpus} but this machine has {cuda_devices} CUDA GPU(s); use trainer.gpus=0 for the CPU"
            )
        kwargs["accelerator"], kwargs["devices"] = ("gpu", gpus) if gpus else ("cpu", kwargs.get("devices") or 1)
        if gpus > 1 and kwargs.get("strategy", "auto") == "auto":
            kwargs["strategy"] = "ddp"
    kwargs["accelerator"] = kwargs.get("accelerator") or "auto"
    kwargs["devices"] = kwargs.get("devices") or "auto"
    if kwargs.get("precision", "auto") == "auto":
        on_gpu = kwargs["accelerator"] in ("gpu", "cuda") or (kwargs["accelerator"] == "auto" and cuda_devices > 0)
        bf16 = torch.cuda.is_bf16_supported() if on_gpu else cpu_has_bf16()
        kwargs["precision"] = "bf16-mixed" if bf16 else "32-true"
    return kwargs


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): there bf16 autocast
    trains this CRNN about twice as fast as float32; elsewhere it would be emulated."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers of torch; absent means unknown, so no
        return False


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> pl.Trainer:
    kwargs = trainer_kwargs(OmegaConf.to_container(cfg, resolve=True), torch.cuda.device_count())
    log.info(
        "trainer: accelerator=%s devices=%s strategy=%s precision=%s",
        kwargs["accelerator"],
        kwargs["devices"],
        kwargs.get("strategy"),
        kwargs["precision"],
    )
    from ocr.callbacks import AtomicCheckpointIO

    return pl.Trainer(**kwargs, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()])


def compose_config(
    name: str,
    overrides: list[str],
    output_dir: str | Path,
    cache_dir: str | Path | None = None,
    keep_hydra: bool = False,
) -> DictConfig:
    """Compose ``conf/<name>.yaml`` as an entry point would, outside of ``@hydra.main``
    (tests, benchmarks), with outputs in ``output_dir``; ``keep_hydra`` keeps the
    ``hydra`` node (launcher and sweep settings) that an entry point does not see."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
    with open_dict(cfg):
        if not keep_hydra:
            del cfg.hydra
        cfg.paths.output_dir = str(output_dir)
        if cache_dir is not None:
            cfg.paths.cache_dir = str(cache_dir)
    return cfg


def explicit_override(key: str) -> bool:
    """Whether ``key`` was set on the command line (or in a test's overrides)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return False
    overrides = HydraConfig.get().overrides.task
    return any(o.lstrip("+~").split("=", 1)[0] == key for o in overrides)


@contextlib.contextmanager
def distributed_job(world_size: int) -> Iterator[None]:
    """Scope one training job's DDP state, so that the next job of a multirun sweep
    (``train.py -m``) starts afresh.

    Lightning starts ranks 1..N-1 by re-running the command line; inside a sweep job
    that line becomes this job's own overrides and run directory (not the sweep
    again). Afterwards the process group and the variables Lightning exported
    (``LOCAL_RANK`` among them, which would make the next job wait for ranks that
    nobody starts) are undone.
    """
    saved_env = {key: os.environ.get(key) for key in _DDP_VARIABLES}
    saved_argv = list(sys.argv)
    if world_size > 1:
        _relaunch_as_this_job()
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sys.argv = saved_argv


_DDP_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def _relaunch_as_this_job() -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import read_write

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg.run):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    sys.argv = [sys.argv[0], f"--config-name={hydra_cfg.job.config_name}", *hydra_cfg.overrides.task]
