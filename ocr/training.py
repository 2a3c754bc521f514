"""``train(cfg)``: what ``python train.py`` does, importable and testable without a CLI."""
from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ocr.hydra_utils import build_trainer, instantiate_group
from ocr.report import format_table, write_json

log = logging.getLogger(__name__)


def resume_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``last`` means this run directory's last.ckpt, if there is one yet."""
    if ckpt_path != "last":
        if ckpt_path and not Path(ckpt_path).is_file():
            raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint")
        return ckpt_path
    last = output_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return str(last)
    log.info("ckpt_path=last: no %s yet, starting afresh", last)
    return None


def train(cfg: DictConfig) -> tuple[dict[str, float], dict]:
    """Train, then test the best checkpoint. Returns (metrics, the objects built)."""
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    model.data_config = OmegaConf.to_container(cfg.data, resolve=True)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = build_trainer(cfg.trainer, callbacks, loggers)
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_path(cfg.get("ckpt_path"), output_dir))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        if trainer.is_global_zero:
            write_json(output_dir / "test_metrics.json", {"checkpoint": best or None, "sets": model.test_results})
            print(f"\nTest metrics ({best or 'final weights'}):\n{format_table(model.test_results)}\n")
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
    return metrics, {"datamodule": datamodule, "model": model, "trainer": trainer}
