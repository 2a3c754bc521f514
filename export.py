"""Export a model: `python export.py ckpt_path=MODEL format=onnx|onnx_int8|torchscript|fp16` (see conf/export.yaml)."""

import hydra
from omegaconf import DictConfig

from ocr.cli import run, task


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
@task
def main(cfg: DictConfig) -> None:
    from ocr.weights import check_models

    check_models(cfg.ckpt_path)  # before the seconds of importing torch
    from ocr.export import export

    print(f"wrote {export(cfg)}")


if __name__ == "__main__":
    run(main, "export")
