"""Evaluate a model: `python evaluate.py [ckpt_path=MODEL] [data=...]` (see conf/evaluate.yaml)."""

import hydra
from omegaconf import DictConfig

from ocr.cli import run, task


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@task
def main(cfg: DictConfig) -> None:
    from ocr.data.labels import check_folders
    from ocr.weights import check_models

    check_models(cfg.ckpt_path)  # before the seconds of importing torch
    check_folders(cfg.get("data"))
    from ocr.evaluation import evaluate

    evaluate(cfg)


if __name__ == "__main__":
    run(main, "evaluate")
