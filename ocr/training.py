"""``train(cfg)``: what ``python train.py`` does, importable and testable without a CLI."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from ocr.checkpoint import load_checkpoint
from ocr.hydra_utils import build_trainer, distributed_job, instantiate_group
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


ARCHITECTURE = ("imgH", "nChannels", "nHidden", "leakyRelu", "channels")


def adopt_checkpoint_model(cfg: DictConfig) -> dict:
    """For fine-tuning: take the architecture and alphabet of ``init_from`` into
    ``cfg.model`` (the data follows through interpolation), the alphabet extended by
    ``init_extend_alphabet``. Returns the checkpoint."""
    checkpoint = load_checkpoint(cfg.init_from)
    hparams = checkpoint["hyper_parameters"]
    extra = cfg.get("init_extend_alphabet") or ""
    already = "".join(c for c in extra if c in hparams["alphabet"])
    if already:
        raise ValueError(f"init_extend_alphabet: {already!r} are in the checkpoint's alphabet already")
    with open_dict(cfg):
        for key in ARCHITECTURE:
            cfg.model[key] = hparams[key]
        cfg.model.alphabet = hparams["alphabet"] + extra
    log.info(
        "init_from=%s: architecture and alphabet (%d characters%s) from the checkpoint",
        cfg.init_from,
        len(cfg.model.alphabet),
        f", {len(extra)} added" if extra else "",
    )
    return checkpoint


def train(cfg: DictConfig, extra_callbacks: Sequence[pl.Callback] = ()) -> tuple[dict[str, float], dict]:
    """Train, then test the best checkpoint. Returns (metrics, the objects built).
    ``extra_callbacks`` join those of the config (benchmarks, profiling)."""
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    pretrained = adopt_checkpoint_model(cfg) if cfg.get("init_from") else None
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    if pretrained is not None:
        model.load_pretrained(pretrained["state_dict"], pretrained["hyper_parameters"]["alphabet"])
    model.data_config = OmegaConf.to_container(cfg.data, resolve=True)
    callbacks = [*instantiate_group(cfg.get("callbacks")), *extra_callbacks]
    loggers = instantiate_group(cfg.get("logger"))
    trainer = build_trainer(cfg.trainer, callbacks, loggers)
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    with distributed_job(trainer.world_size):
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
