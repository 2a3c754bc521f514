"""Shared fixtures: configs composed from conf/ with tiny overrides, and a render cache
shared by the whole session (rendering is deterministic, so sharing it is safe)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from ocr.config import compose_config
from ocr.models.system import OCRSystem

ROOT = Path(__file__).resolve().parents[1]

SEED_ALPHABET = OmegaConf.load(ROOT / "conf" / "charset" / "seed.yaml").alphabet
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("render-cache")


@pytest.fixture
def train_cfg(tmp_path, cache_dir):
    """A factory: ``train_cfg(*overrides)`` composes conf/train.yaml with debug=tiny."""

    def make(*overrides: str) -> DictConfig:
        return compose_config("train", ["debug=tiny", *overrides], tmp_path, cache_dir)

    return make


def run_entry_point(
    script: str, *args: str, timeout: int = 600, env: dict | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run ``python script args`` from the project root (or ``cwd``) as a user would; fail
    with its output.

    It runs in its own process group, so that a timeout also ends the processes it
    started (DDP ranks, DataLoader workers).
    """
    command = [sys.executable, str(ROOT / script), *args]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"{script} {' '.join(args)} timed out after {timeout}s:\n{stderr[-6000:]}") from None
    if process.returncode != 0:
        raise AssertionError(
            f"{script} {' '.join(args)} failed ({process.returncode}):\n{stdout[-3000:]}\n{stderr[-6000:]}"
        )
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def failing(script: str, *args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``python script args`` as ``run_entry_point`` does, expecting it to fail."""
    result = subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
    )
    assert result.returncode != 0, result.stdout
    return result


def save_untrained(path, seed: int = 0, alphabet: str = ALPHABET, **sizes):
    """A small untrained model saved as train.py saves it (weights and hyperparameters)."""
    torch.manual_seed(seed)
    model = OCRSystem(alphabet, nHidden=16, channels=(4, 8, 8, 8, 16, 16, 16), **sizes)
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path
