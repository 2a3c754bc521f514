"""Train a recogniser: `python train.py [overrides]` (see conf/train.yaml)."""

import hydra
from omegaconf import DictConfig

from ocr.cli import run, task


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@task
def main(cfg: DictConfig) -> float | None:
    from ocr.data.labels import check_folders
    from ocr.data.synth import render_early

    check_folders(cfg.get("data"))  # a wrong folder is said before minutes of rendering
    synth_sets = render_early(cfg)  # synthetic words render while torch and Lightning load
    from ocr.training import train

    metrics, _ = train(cfg, synth_sets=synth_sets)
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    run(main, "train")
