"""Scoring a recogniser on labelled sets: ``score`` is the one way, used by ``evaluate.py``
(``evaluate(cfg)``) and by the test at the end of training."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from ocr.files import atomic_write, write_json, write_tsv
from ocr.metrics import TextMetrics, edit_distance
from ocr.recognizer import Recognizer, view_options
from ocr.report import format_table
from ocr.visualize import prediction_grid

log = logging.getLogger(__name__)
# Exported models: they read as checkpoints do, but hold no training data config.
EXPORTED = (".onnx", ".ts")


@dataclass
class Prediction:
    set: str
    index: int  # in its set
    truth: str
    text: str
    confidence: float
    edits: int
    readable: bool = True


@dataclass
class Scores:
    """Metrics per set (``total`` pooled last when there are several), every image's
    reading, and the files that could not be read (counted as wrong readings)."""

    results: dict[str, dict[str, float]] = field(default_factory=dict)
    predictions: list[Prediction] = field(default_factory=list)
    unreadable: dict[str, list[str]] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, float]:
        return self.results["total"] if len(self.results) > 1 else next(iter(self.results.values()))


def score(
    recognizer: Recognizer, sets: dict, batches: Callable[[object], Iterable[dict]], progress: bool = True
) -> Scores:
    """Read every image of each set (name -> dataset, as the data modules hold them) in
    ``batches(dataset)`` (``collate``'s batches) and score the readings. An image that
    cannot be read counts as read wrong (an empty reading). Images of sets read from
    files are also read in other views when the recogniser asks (``Recognizer.vertical``,
    ``tilts``, ``stretches``, ``trims``, ``invert``)."""
    scores, total = Scores(), TextMetrics()
    for name, dataset in sets.items():
        metrics, unreadable = TextMetrics(), []
        source = getattr(dataset, "source", None) if recognizer.turns else None
        bar = tqdm(total=len(dataset), desc=f"evaluate {name}", unit="img", disable=not progress, leave=False)
        for batch in batches(dataset):
            pixels, widths = batch["images"].numpy(), batch["widths"].numpy()
            readings = recognizer.read_batch(pixels, widths) if batch["labels"] else []
            if source is not None and readings:
                readings = recognizer.read_turned(readings, [source(i) for i in batch["index"].tolist()])
            read = [
                Prediction(name, i, label, r.text, r.confidence, edit_distance(r.text, label))
                for i, label, r in zip(batch["index"].tolist(), batch["labels"], readings)
            ]
            read += [Prediction(name, i, label, "", 0.0, len(label), False) for i, label in batch["unreadable"]]
            unreadable += [dataset.names[i] for i, _ in batch["unreadable"]]
            metrics.update([p.text for p in read], [p.truth for p in read], [p.confidence for p in read])
            scores.predictions += read
            bar.update(len(read))
        bar.close()
        total.merge_state(metrics)
        scores.results[name] = {**{k: float(v) for k, v in metrics.compute().items()}, "unreadable": len(unreadable)}
        if unreadable:
            scores.unreadable[name] = unreadable
            log.warning("%s: %d image(s) could not be read and count as wrong readings", name, len(unreadable))
    if len(scores.results) > 1:
        unreadable = sum(len(v) for v in scores.unreadable.values())
        scores.results["total"] = {**{k: float(v) for k, v in total.compute().items()}, "unreadable": unreadable}
    return scores


def write_report(output_dir: Path, scores: Scores, sets: dict, extra: dict, grid_size: int = 20, seed: int = 0) -> None:
    """``predictions.tsv``, ``grid.png``, ``errors.png``, then ``metrics.json`` last: each
    file complete or absent, and a ``metrics.json`` means the rest is there."""
    write_tsv(
        output_dir / "predictions.tsv",
        [("set", "file", "truth", "prediction", "confidence", "edit_distance")]
        + [
            (p.set, sets[p.set].names[p.index], p.truth, p.text, f"{p.confidence:.4f}", p.edits)
            for p in scores.predictions
        ],
    )
    write_grids(output_dir, scores.predictions, sets, grid_size, seed)
    write_json(
        output_dir / "metrics.json",
        {**scores.summary, **extra, "sets": scores.results, "unreadable_files": scores.unreadable},
    )


def write_grids(output_dir: Path, predictions: list[Prediction], sets: dict, size: int, seed: int) -> None:
    """``grid.png``: a random sample of test images with their readings (the figure of the
    blog post this project started from); ``errors.png``: the worst readings (most edits,
    then most confident). Unreadable images have no pixels to show."""
    shown = [p for p in predictions if p.readable]
    sample = random.Random(seed).sample(shown, min(size, len(shown)))
    worst = sorted((p for p in shown if p.edits), key=lambda p: (-p.edits, -p.confidence))[:size]
    for filename, chosen in (("grid.png", sample), ("errors.png", worst)):
        if chosen:
            images = [sets[p.set][p.index][1] for p in chosen]
            grid = prediction_grid(images, [p.text for p in chosen], [p.truth for p in chosen])
            atomic_write(output_dir / filename, lambda f: Image.fromarray(grid).save(f, format="PNG"))


def evaluate(cfg) -> dict:
    """Score the model (or the ensemble of a list of them) on each test set; write
    predictions.tsv, grids and metrics.json. Training checkpoints carry the data they were
    trained on (their test set by default); exported models (``.onnx``, ``.ts``) only
    their alphabet and image height: they are scored on the data the config names."""
    from ocr.weights import model_paths, reading_path

    output_dir = Path(cfg.paths.output_dir)
    readers, data = {}, None
    for path in model_paths(cfg.ckpt_path):
        if path.suffix in EXPORTED:
            readers[str(path)] = Recognizer.load(path, cfg.get("device"), cfg.precision)
            continue
        from ocr.checkpoint import model_from_checkpoint

        model = model_from_checkpoint(path)
        data = data or model.hparams.data
        fast = reading_path(path, cfg.get("device"))  # read as predict.py reads: shipped models on a CPU from ONNX
        if fast.suffix == ".onnx":
            log.info("%s: read from its ONNX export %s", path, fast)
            readers[str(path)] = Recognizer.load(fast)
        else:
            readers[str(path)] = Recognizer.from_model(model, cfg.get("device"), cfg.precision)
    recognizer = Recognizer.combine(readers, decode=dict(cfg.decode), **view_options(cfg))
    datamodule = evaluation_datamodule(cfg, recognizer.codec.alphabet, recognizer.imgH, data)
    scores = score(recognizer, datamodule.test_sets, lambda d: datamodule.loader(d, train=False, sharded=False))
    write_report(output_dir, scores, datamodule.test_sets, {"checkpoint": ", ".join(readers)}, cfg.grid_size, cfg.seed)
    print(f"\n{format_table(scores.results)}\n\nwritten to {output_dir}")
    return scores.results


def evaluation_datamodule(cfg, alphabet: str, imgH: int, trained_on: dict | None):
    """The data to evaluate on, its test sets set up: ``cfg.data`` when given (a folder
    named for evaluation is its test data), else the test set of the data the model was
    trained on (``trained_on``, a checkpoint's plain data config), rebuilt
    (``ocr.data.datamodule.from_checkpoint``) with this machine's cache folder."""
    from omegaconf import open_dict

    from ocr.config import build
    from ocr.data.datamodule import datamodule_from_checkpoint

    overrides = {"alphabet": alphabet, "imgH": imgH, "eval_batch_size": cfg.batch_size, "num_workers": cfg.num_workers}
    if cfg.get("data") is not None:
        with open_dict(cfg):  # what the data configs interpolate
            cfg.model = {"alphabet": alphabet, "imgH": imgH}
        data = cfg.data
        with open_dict(data):
            if data.get("root") is not None and data.get("test_root", "absent") is None:
                data.test_root = data.root
            data.update(overrides)
        datamodule = build(data)
    elif trained_on:
        datamodule = datamodule_from_checkpoint(trained_on, {**overrides, "cache_dir": cfg.paths.cache_dir})
    else:
        raise ValueError(
            f"{cfg.ckpt_path} holds no data config (an exported model, or a checkpoint without one): "
            "name the data, e.g. data=folder data.root=DIR"
        )
    datamodule.prepare_data(splits=("test",))  # the training set is not needed here
    datamodule.setup("test")
    return datamodule
