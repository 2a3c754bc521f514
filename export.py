"""Export a checkpoint: `python export.py ckpt_path=PATH format=onnx|torchscript|fp16` (see conf/export.yaml)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from ocr.checkpoint import model_from_checkpoint, slim_checkpoint
    from ocr.export import export_onnx, export_torchscript

    exporters = {
        "onnx": (lambda path, out: export_onnx(model_from_checkpoint(path), out), ".onnx"),
        "torchscript": (lambda path, out: export_torchscript(model_from_checkpoint(path), out), ".ts"),
        "fp16": (slim_checkpoint, ".fp16.ckpt"),
    }
    if cfg.format not in exporters:
        raise ValueError(f"format must be one of {sorted(exporters)}, got {cfg.format!r}")
    export, suffix = exporters[cfg.format]
    output = Path(cfg.output or Path(cfg.ckpt_path).with_suffix(suffix))
    print(f"wrote {export(cfg.ckpt_path, output)}")


if __name__ == "__main__":
    main()
