"""``train(cfg)``: what ``python train.py`` does, importable and testable without a CLI."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only

from ocr.callbacks import AtomicCheckpointIO
from ocr.checkpoint import load_checkpoint, model_from_checkpoint
from ocr.cli import quiet_lightning
from ocr.config import build, build_group, explicit_override
from ocr.data.datamodule import checkpoint_data_config
from ocr.devices import trainer_devices
from ocr.distributed import distributed_job
from ocr.evaluation import score
from ocr.files import lock_run_directory, write_json
from ocr.models.distill import Teachers
from ocr.models.networks import ARCHITECTURE, EARLIER
from ocr.options import check_number
from ocr.recognizer import Recognizer
from ocr.report import format_table
from ocr.text import alphabet_difference
from ocr.weights import model_path

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


def adopt_checkpoint_model(cfg: DictConfig) -> dict:
    """For fine-tuning: take the architecture and alphabet of ``init_from`` into
    ``cfg.model`` (the data follows through interpolation), the alphabet extended by
    ``init_extend_alphabet``. Returns the checkpoint."""
    checkpoint = load_checkpoint(model_path(cfg.init_from))  # a path or a shipped model's name
    hparams = checkpoint["hyper_parameters"]
    extra = cfg.get("init_extend_alphabet") or ""
    already = "".join(c for c in extra if c in hparams["alphabet"])
    if already:
        raise ValueError(f"init_extend_alphabet: {already!r} are in the checkpoint's alphabet already")
    if explicit_override("model.alphabet") and cfg.model.alphabet != hparams["alphabet"] + extra:
        raise ValueError(
            f"init_from={cfg.init_from}: {alphabet_difference(hparams['alphabet'], cfg.model.alphabet)}. "
            "Fine-tuning keeps the checkpoint's alphabet: drop model.alphabet, and add characters "
            "with init_extend_alphabet=..."
        )
    built = {**EARLIER, **hparams}  # checkpoints of earlier versions do not name their network
    with open_dict(cfg):
        for key in ARCHITECTURE:
            if key in built:
                cfg.model[key] = built[key]
        cfg.model.alphabet = hparams["alphabet"] + extra
    log.info(
        "init_from=%s: architecture and alphabet (%d characters%s) from the checkpoint",
        cfg.init_from,
        len(cfg.model.alphabet),
        f", {len(extra)} added" if extra else "",
    )
    return checkpoint


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


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> pl.Trainer:
    """The trainer of a ``trainer`` config node, built as the node says (with the callbacks
    and loggers), its devices resolved from ``trainer.gpus`` (``ocr.devices``)."""
    node = OmegaConf.to_container(cfg, resolve=True)
    for name, (kind, least) in TRAINER_NUMBERS.items():
        check_number(f"trainer.{name}", node.get(name), kind, minimum=least, optional=True)
    node = trainer_devices(node, torch.cuda.device_count())
    log.info(
        "trainer: accelerator=%s devices=%s strategy=%s precision=%s",
        *(node.get(k) for k in ("accelerator", "devices", "strategy", "precision")),
    )
    return build(OmegaConf.create(node), callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()])


def load_pretrained(model, state_dict: dict, alphabet: str) -> None:
    """Weights of a model trained on ``alphabet``, a prefix of ``model``'s alphabet: its
    classes keep their weights, characters added since start from ``model``'s own."""
    if not model.codec.alphabet.startswith(alphabet):
        raise ValueError(f"the checkpoint's alphabet {alphabet!r} is not a prefix of {model.codec.alphabet!r}")
    own = model.state_dict()
    for name, tensor in state_dict.items():
        if name not in own:
            raise ValueError(f"checkpoint weight {name} has no place in this model")
        if own[name].shape == tensor.shape:
            own[name] = tensor
        else:  # the output layer: one row per class, the new classes at the end
            own[name][: tensor.shape[0]] = tensor
    model.load_state_dict(own)


def without_validation(cfg: DictConfig) -> None:
    """``data.val_fraction=0``: every image trains, so nothing validates: checkpoints are
    chosen by the training loss and early stopping is off."""
    log.info("data.val_fraction=0: no validation; best.ckpt has the lowest training loss, no early stopping")
    with open_dict(cfg):
        cfg.trainer.limit_val_batches = 0
        cfg.trainer.num_sanity_val_steps = 0
        if cfg.get("callbacks"):
            cfg.callbacks.pop("early_stopping", None)
            if "model_checkpoint" in cfg.callbacks:
                cfg.callbacks.model_checkpoint.monitor = "train/loss_epoch"
                cfg.callbacks.model_checkpoint.mode = "min"
        if str(cfg.get("optimized_metric") or "").startswith("val/"):
            cfg.optimized_metric = "train/loss_epoch"


def train(
    cfg: DictConfig, extra_callbacks: Sequence[pl.Callback] = (), synth_sets=None
) -> tuple[dict[str, float], dict]:
    """Train, then test the best checkpoint. Returns (metrics, the objects built).

    ``extra_callbacks`` join those of the config (benchmarks, profiling); ``synth_sets``:
    the rendered sets that ``train.py`` started rendering before the heavy imports (see
    ``ocr.data.synth.render_early``), for the synthetic data module to take over.
    """
    quiet_lightning()
    output_dir = Path(cfg.paths.output_dir)
    # Rank 0 holds the run directory: a second run there is refused (DDP's other ranks
    # are this run's own).
    lock = lock_run_directory(output_dir) if rank_zero_only.rank == 0 else contextlib.nullcontext()
    with lock:
        return _train(cfg, output_dir, extra_callbacks, synth_sets)


def _train(cfg: DictConfig, output_dir: Path, extra_callbacks, synth_sets) -> tuple[dict[str, float], dict]:
    pl.seed_everything(cfg.seed, workers=True)
    pretrained = adopt_checkpoint_model(cfg) if cfg.get("init_from") else None
    if cfg.data.get("val_fraction", None) == 0:
        without_validation(cfg)
    datamodule = build(cfg.data, **({"sets": synth_sets} if synth_sets is not None else {}))
    data = checkpoint_data_config(OmegaConf.to_container(cfg.data, resolve=True), cfg.paths.root_dir)
    model = build(cfg.model, data=data)
    if pretrained is not None:
        load_pretrained(model, pretrained["state_dict"], pretrained["hyper_parameters"]["alphabet"])
    if cfg.get("distill") and cfg.distill.get("teacher"):
        options = OmegaConf.to_container(cfg.distill, resolve=True)
        model.teachers = Teachers.load(options.pop("teacher"), model.codec.alphabet, model.hparams.imgH, **options)
        log.info("distill.teacher=%s: weight %g of the loss", cfg.distill.teacher, model.teachers.weight)
    callbacks = [*build_group(cfg.get("callbacks")), *extra_callbacks]
    loggers = build_group(cfg.get("logger"))
    trainer = build_trainer(cfg.trainer, callbacks, loggers)
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    with distributed_job(trainer.world_size):
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_path(cfg.get("ckpt_path"), output_dir))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test") and trainer.is_global_zero:
        metrics.update(test(trainer, model, datamodule, cfg))
    return metrics, {"datamodule": datamodule, "model": model, "trainer": trainer}


def test(trainer: pl.Trainer, model, datamodule, cfg: DictConfig) -> dict[str, float]:
    """Score the best checkpoint on the test sets as ``evaluate.py`` would (the same
    function), log the figures (with the run's hyperparameters, for TensorBoard's HParams
    view) and write ``test_metrics.json``."""
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    tested = model_from_checkpoint(best) if best else model
    precision = "bf16" if str(trainer.precision).startswith("bf16") else "32"
    recognizer = Recognizer.from_model(tested, str(trainer.strategy.root_device), precision)
    scores = score(recognizer, datamodule.test_sets, lambda d: datamodule.loader(d, train=False, sharded=False))
    prefix = {name: "test" if len(scores.results) == 1 else f"test/{name}" for name in scores.results}
    logged = {f"{prefix[name]}/{k}": v for name, values in scores.results.items() for k, v in values.items()}
    validation = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    for logger in trainer.loggers:
        logger.log_metrics(logged, step=trainer.global_step)
        if isinstance(logger, TensorBoardLogger):  # its HParams view: each run's settings beside its figures
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True), metrics={**validation, **logged})
        logger.save()
    write_json(
        Path(cfg.paths.output_dir) / "test_metrics.json",
        {"checkpoint": best or None, "summary": scores.summary, "sets": scores.results, "validation": validation},
    )
    print(f"\nTest metrics ({best or 'final weights'}):\n{format_table(scores.results)}\n")
    return logged
