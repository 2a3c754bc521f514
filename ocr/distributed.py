"""DDP inside a Hydra sweep: each job of ``train.py -m`` starts its ranks afresh."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import torch


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
