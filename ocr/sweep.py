"""Hydra callbacks of a sweep (``train.py -m`` or ``evaluate.py -m``): its folder resolved as a
single run's is, and at its end every job's overrides and final metrics in one table, printed
and written to ``multirun_summary.csv``."""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ocr.files import atomic_write
from ocr.report import aligned

log = logging.getLogger(__name__)

# The figures each job leaves: train.py's test_metrics.json, evaluate.py's metrics.json.
METRICS_FILES = ("test_metrics.json", "metrics.json")
# What a job that failed leaves instead: why (ocr.cli.record_failure).
FAILED = "failed.txt"
COLUMNS = ("val/cer", "val/word_accuracy", "test/word_accuracy", "test/char_accuracy", "test/word_accuracy_alnum")


def job_row(folder: Path, excluded: set[str]) -> dict[str, str] | None:
    """A job's overrides (but the ``excluded`` keys) and figures, or None if it left none
    (it failed)."""
    overrides = [o for o in OmegaConf.load(folder / ".hydra" / "overrides.yaml") if o.split("=")[0] not in excluded]
    for name in METRICS_FILES:
        path = folder / name
        if path.is_file():
            figures = json.loads(path.read_text())
            break
    else:
        return None
    summary = figures.get("summary") or {k: v for k, v in figures.items() if isinstance(v, (int, float))}
    values = {**{f"test/{k}": v for k, v in summary.items()}, **figures.get("validation", {})}
    return {"overrides": " ".join(overrides), **{k: values.get(k, "") for k in COLUMNS}}


class SweepConfig(Callback):
    """Install the sweep's config as Hydra's own before the sweeper reads its folder.

    ``hydra.sweep.dir`` lies under ``paths.root_dir``, the working directory as
    ``${hydra:runtime.cwd}``, which Hydra 1.3 resolves for a single run but not for a sweep's
    folder ("HydraConfig was not set"). Each job then installs its own config, as before.
    Hydra's pull request 3439 (merged 2026-09) does the same; hydra-core 1.3 lacks it.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        HydraConfig.instance().set_config(config)


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep = Path(config.hydra.sweep.dir)
        folders = sorted(p.parent.parent for p in sweep.rglob(".hydra/overrides.yaml"))
        excluded = set(config.hydra.job.config.override_dirname.exclude_keys)
        rows = [row for row in (job_row(folder, excluded) for folder in folders) if row is not None]
        failed = [folder for folder in folders if (folder / FAILED).is_file()]
        if not rows and not failed:
            return
        lines = []
        if rows:
            columns = [c for c in COLUMNS if any(row[c] != "" for row in rows)]  # evaluate.py has no val/
            table = [
                ["overrides", *columns],
                *([row["overrides"], *(_figure(row[c]) for c in columns)] for row in rows),
            ]
            atomic_write(
                sweep / "multirun_summary.csv", lambda f: csv.writer(f, lineterminator="\n").writerows(table), "w"
            )
            lines = aligned(table)
        # A failed job's file starts with its reason in a line (ocr.cli.record_failure).
        reasons = [f"failed: {f.name}: {(f / FAILED).read_text(encoding='utf-8').splitlines()[0]}" for f in failed]
        print("\n".join(["", f"sweep: {len(rows)} of {len(folders)} jobs finished ({sweep})", *lines, *reasons]))
        if failed:
            sys.exit(1)


def _figure(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
