"""Evaluate a checkpoint: `python evaluate.py ckpt_path=PATH [data=...]` (see conf/evaluate.yaml)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from ocr.evaluation import evaluate

    evaluate(cfg)


if __name__ == "__main__":
    main()
