"""``evaluate(cfg)``: what ``python evaluate.py`` does."""

from __future__ import annotations

import csv
import logging
import random
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from PIL import Image

from ocr.checkpoint import model_from_checkpoint
from ocr.metrics import TextMetrics, edit_distance
from ocr.recognizer import Recognizer
from ocr.report import format_table, write_json
from ocr.visualize import prediction_grid
from ocr.weights import model_paths

log = logging.getLogger(__name__)


def data_config(cfg: DictConfig, model) -> DictConfig:
    """The data to evaluate on: ``cfg.data`` when given, else the data config the
    checkpoint was trained with (its test set), with this machine's cache folder."""
    if cfg.get("data") is not None:
        data = cfg.data
        if data.get("root") is not None and data.get("test_root", "absent") is None:
            with open_dict(data):
                data.test_root = data.root  # a folder named for evaluation is the test data
    elif model.data_config:
        data = OmegaConf.create(model.data_config)
        if "cache_dir" in data:
            data.cache_dir = cfg.paths.cache_dir
    else:
        raise ValueError("the checkpoint holds no data config: name the data, e.g. data=folder data.root=DIR")
    with open_dict(cfg):
        cfg.model = {"alphabet": model.codec.alphabet, "imgH": model.hparams.imgH}
    with open_dict(data):
        data.alphabet, data.imgH = model.codec.alphabet, model.hparams.imgH
        data.eval_batch_size = cfg.batch_size
        data.num_workers = cfg.num_workers
    return data


def evaluate(cfg: DictConfig) -> dict:
    """Score the checkpoint (or the ensemble of a list of them) on each test set; write
    metrics.json, predictions.tsv and grids."""
    output_dir = Path(cfg.paths.output_dir)
    models = {str(path): model_from_checkpoint(path) for path in model_paths(cfg.ckpt_path)}
    readers = {name: Recognizer.from_model(model, cfg.get("device"), cfg.precision) for name, model in models.items()}
    recognizer = Recognizer.combine(readers, decode=dict(cfg.decode))
    datamodule = instantiate(data_config(cfg, next(iter(models.values()))))
    datamodule.prepare_data(splits=("test",))  # the training set is not needed here
    datamodule.setup("test")

    results, rows, totals = {}, [], TextMetrics()
    for name, dataset in datamodule.test_sets.items():
        metrics = TextMetrics()
        for batch in datamodule.loader(dataset, train=False):
            readings = recognizer.read_batch(batch["images"].numpy())
            texts, confidences = [r.text for r in readings], [r.confidence for r in readings]
            metrics.update(texts, batch["labels"], confidences)
            for i, text, label, conf in zip(batch["index"].tolist(), texts, batch["labels"], confidences):
                rows.append((name, i, label, text, conf, edit_distance(text, label)))
        totals.merge_state(metrics)
        results[name] = {k: float(v) for k, v in metrics.compute().items()}
    if len(results) > 1:
        results["total"] = {k: float(v) for k, v in totals.compute().items()}
    summary = results["total"] if len(results) > 1 else next(iter(results.values()))

    write_json(output_dir / "metrics.json", {**summary, "checkpoint": ", ".join(models), "sets": results})
    write_predictions(output_dir / "predictions.tsv", rows, datamodule.test_sets)
    write_grids(output_dir, rows, datamodule.test_sets, cfg.grid_size, cfg.seed)
    print(f"\n{format_table(results)}\n\nwritten to {output_dir}")
    return results


def write_predictions(path: Path, rows: list, test_sets: dict) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(["set", "file", "truth", "prediction", "confidence", "edit_distance"])
        for name, i, label, text, conf, edits in rows:
            writer.writerow([name, test_sets[name].names[i], label, text, f"{conf:.4f}", edits])


def write_grids(output_dir: Path, rows: list, test_sets: dict, size: int, seed: int) -> None:
    """``grid.png``: a random sample of test images with their predictions (the seed's
    figure); ``errors.png``: the worst predictions (most edits, then most confident)."""
    if not rows:
        return
    sample = random.Random(seed).sample(rows, min(size, len(rows)))
    worst = sorted((r for r in rows if r[5]), key=lambda r: (-r[5], -r[4]))[:size]
    for filename, chosen in (("grid.png", sample), ("errors.png", worst)):
        if chosen:
            images = [test_sets[name][i][1] for name, i, *_ in chosen]
            grid = prediction_grid(images, [r[3] for r in chosen], [r[2] for r in chosen])
            Image.fromarray(grid).save(output_dir / filename)
