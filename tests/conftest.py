"""Shared fixtures: configs composed from conf/ with tiny overrides, and a render cache
shared by the whole session (rendering is deterministic, so sharing it is safe)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PROJECT_ROOT", str(ROOT))

SEED_ALPHABET = "Only thewigsofrcvdampbkuq.$A-210xT5'MDL,RYHJ\"ISPWENj&BC93VGFKz();#:!7U64Q8?+*ZX/%"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("render-cache")


def compose_config(name: str, overrides: list[str], output_dir: Path, cache_dir: Path) -> DictConfig:
    """The config an entry point would see, with outputs and cache in test folders."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra  # an entry point's config has no hydra node either
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.cache_dir = str(cache_dir)
    return cfg


@pytest.fixture
def train_cfg(tmp_path, cache_dir):
    """A factory: ``train_cfg(*overrides)`` composes conf/train.yaml with debug=tiny."""
    def make(*overrides: str) -> DictConfig:
        return compose_config("train", ["debug=tiny", *overrides], tmp_path, cache_dir)
    return make


def run_entry_point(script: str, *args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python script args`` from the project root as a user would; fail with its output.

    It runs in its own process group, so that a timeout also ends the processes it
    started (DDP ranks, DataLoader workers).
    """
    command = [sys.executable, str(ROOT / script), *args]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"{script} {' '.join(args)} timed out after {timeout}s:\n{stderr[-6000:]}") from None
    if process.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} failed ({process.returncode}):\n{stdout[-3000:]}\n{stderr[-6000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
