"""Read images: `python predict.py [ckpt_path=MODEL] inputs=PATH` (see conf/predict.yaml)."""

import hydra
from omegaconf import DictConfig

from ocr.cli import run, task


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
@task
def main(cfg: DictConfig) -> None:
    from ocr.weights import check_models

    check_models(cfg.ckpt_path)  # before the seconds of importing torch
    from ocr.prediction import predict

    predict(cfg)


if __name__ == "__main__":
    run(main, "predict")
