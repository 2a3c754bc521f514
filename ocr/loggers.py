"""Lightning's CSV logger made safe to resume.

Lightning's deletes ``metrics.csv`` when a run starts in a folder that has one (so the
README's recovery, the same command with ``ckpt_path=last``, lost every row logged before
the kill), and can fail when a metric first appears after a resume. This one keeps every
row: a resumed run appends to the file, and a metric the header lacks widens the header.
"""

from __future__ import annotations

import csv
import os

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger as LightningCSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from ocr.files import atomic_write


class AppendingWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            _drop_cut_line(self.metrics_file_path)
            with open(self.metrics_file_path, newline="", encoding="utf-8") as f:
                self.metrics_keys = next(csv.reader(f), [])

    def _check_log_dir_exists(self) -> None:
        """Keep what a killed run wrote (Lightning's deletes it)."""

    def save(self) -> None:
        if not self.metrics:
            return
        new = sorted(set().union(*self.metrics) - set(self.metrics_keys))
        exists = os.path.isfile(self.metrics_file_path) and self.metrics_keys
        if new:
            self.metrics_keys = sorted([*self.metrics_keys, *new])
            if exists:
                self._rewrite_with_new_header(self.metrics_keys)
        with open(self.metrics_file_path, "a" if exists else "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys, restval="")
            if not exists:
                writer.writeheader()
            writer.writerows(self.metrics)
        self.metrics = []

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))

        def write(f) -> None:
            writer = csv.DictWriter(f, fieldnames=fieldnames, restval="")
            writer.writeheader()
            writer.writerows(rows)

        atomic_write(self.metrics_file_path, write, "w")


def _drop_cut_line(path: str) -> None:
    """A process killed while appending can leave a last line without its end: drop it."""
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        atomic_write(path, lambda f: f.write(data[: data.rfind(b"\n") + 1]))


class CSVLogger(LightningCSVLogger):
    """``pytorch_lightning.loggers.CSVLogger`` that keeps the rows of earlier runs in the
    same folder (see the module's docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> AppendingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingWriter(log_dir=self.log_dir)
        return self._experiment
