"""Read images: `python predict.py ckpt_path=MODEL inputs=PATH` (see conf/predict.yaml)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    from ocr.prediction import predict

    predict(cfg)


if __name__ == "__main__":
    main()
