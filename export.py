"""Export a checkpoint: `python export.py ckpt_path=PATH format=onnx|torchscript` (see conf/export.yaml)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from ocr.checkpoint import model_from_checkpoint
    from ocr.export import export_onnx, export_torchscript

    exporters = {"onnx": (export_onnx, ".onnx"), "torchscript": (export_torchscript, ".ts")}
    if cfg.format not in exporters:
        raise ValueError(f"format must be one of {sorted(exporters)}, got {cfg.format!r}")
    export, suffix = exporters[cfg.format]
    output = Path(cfg.output or Path(cfg.ckpt_path).with_suffix(suffix))
    print(f"wrote {export(model_from_checkpoint(cfg.ckpt_path), output)}")


if __name__ == "__main__":
    main()
