"""What the entry points share: a mistake in a command (a config key, a path, a value)
ends in one or two lines that name it, not a traceback, and leaves no empty run folder;
Lightning's advice that does not apply here is not printed.

Set ``HYDRA_FULL_ERROR=1`` for the full traceback of any error.
"""

from __future__ import annotations

import difflib
import functools
import gc
import logging
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

# Errors that describe what the user asked for (their messages name the value and what to
# do); anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError)


def run(main: Callable[[], object], config_name: str) -> None:
    """Call a ``@hydra.main`` function whose task is wrapped in ``task``: a mistake in the
    command line (an unknown key, a missing config) prints ``error: ...`` and exits 2."""
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises; this function reports
    os.environ["OCR_FULL_ERROR"] = "1" if full else "0"
    from ocr.config import register_resolvers

    register_resolvers()
    try:
        main()
    except Exception as err:
        report(err, config_name, full)
        raise
    # Done: the interpreter's last collections on the way out need not walk every object
    # the imports made (torch's: half a second of predict.py on 2 cores, docs/results.md).
    gc.freeze()


def report(err: Exception, config_name: str, full: bool) -> None:
    """Print a user's mistake in a line or two and exit 2; return for anything else."""
    message = user_message(err, config_name)
    if message is not None and not full:
        print(f"error: {message}\n(HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr)
        sys.exit(2)


def user_message(err: Exception, config_name: str) -> str | None:
    """The one-paragraph message for a user's mistake, or None for anything else."""
    from hydra.errors import ConfigCompositionException, InstantiationException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(err, (ConfigCompositionException, OverrideParseException)):
        lines = str(err).split("Config search path")[0].splitlines()
        options = [line.strip() for line in lines if line.startswith("\t")]
        lines = [line.strip() for line in lines if line.strip() and not line.startswith("\t")]
        if options:  # "Available options in 'data':" and one option per line: one line
            lines[-1] += " " + ", ".join(options)
        key = re.search(r"Could not override '([^']+)'", lines[0])
        hint = did_you_mean(key.group(1), config_name) if key else None
        if hint:
            lines[0] += f" Did you mean '{hint}'?"
        return "\n".join(lines[:3])
    if isinstance(err, (OmegaConfBaseException, InstantiationException)):
        return "\n".join(str(err).strip().splitlines()[:2])
    from ocr.files import RunDirectoryBusy
    from ocr.models.guard import NonFiniteLossError

    if isinstance(err, (*USER_ERRORS, RunDirectoryBusy, NonFiniteLossError)):
        return str(err) or type(err).__name__
    return None


# Keys that moved, by their old names.
RENAMED = {"tilt_below": "views.below"}


def did_you_mean(key: str, config_name: str) -> str | None:
    """The known key closest to ``key`` (``model.nHiden`` -> ``model.nHidden``), or the
    key's new name."""
    from ocr.config import known_keys

    if key in RENAMED:
        return RENAMED[key]
    close = difflib.get_close_matches(key, known_keys(config_name), n=1, cutoff=0.6)
    return close[0] if close else None


def task(function: Callable) -> Callable:
    """Wrap an entry point's task: a user's mistake is reported by ``report`` (before
    Hydra would print its own lines), and if the task fails before writing anything of
    its own, the run folder Hydra made for it (config, log) is removed. A job of a sweep
    that fails is said and recorded in its folder instead, and the sweep goes on: its
    summary names the job and ends the sweep with status 1 (``ocr.sweep.SweepSummary``)."""

    @functools.wraps(function)
    def wrapped(cfg):
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        quiet_lightning()
        try:
            return function(cfg)
        except Exception as err:
            hydra, full = HydraConfig.get(), os.environ.get("OCR_FULL_ERROR") == "1"
            if hydra.mode == RunMode.MULTIRUN:
                record_failure(err, hydra.job.config_name, Path(hydra.runtime.output_dir), full)
                return None
            remove_empty_run_folder()
            report(err, hydra.job.config_name, full)
            raise

    return wrapped


def record_failure(err: Exception, config_name: str, folder: Path, full: bool) -> None:
    """Print why a sweep's job failed (a user's mistake in a line, anything else with its
    traceback) and write it to the job's folder, where the sweep's summary finds it."""
    import traceback

    from ocr.sweep import FAILED

    message = None if full else user_message(err, config_name)
    if message:
        text = f"error: {message}"
    else:
        text = f"{type(err).__name__}: {err}\n" + "".join(traceback.format_exception(err))
    print(text, file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FAILED).write_text(text + "\n", encoding="utf-8")


def remove_empty_run_folder() -> None:
    """Remove the run folder if it holds nothing but Hydra's config, logs and the lock."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    folder = Path(HydraConfig.get().runtime.output_dir)
    if not folder.is_dir() or folder.resolve() == Path.cwd().resolve():
        return
    if all(p.name in (".hydra", ".lock") or p.suffix == ".log" for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)


# Lightning's messages that say nothing about this run: adverts, hardware it does not use,
# and warnings about choices made on purpose (see the comments where they are made).
NOISE = (
    r"💡 Tip",
    r"GPU available: False",
    r"TPU available",
    r"HPU available",
    r"Loading `train_dataloader` to estimate",
)
WARNINGS = (
    r".*You have overridden `transfer_batch_to_device` in `LightningModule`.*",  # only the images travel
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",  # inside Lightning
    r".*is not supported by the model summary.*",  # sizes in bf16 are half: known
    r".*does not have many workers.*",  # data is in memory: workers would not help
    r".*Experiment logs directory .* exists and is not empty.*",  # a resumed run appends (ocr.loggers)
    r".*Checkpoint directory .* exists and is not empty.*",  # a resumed run keeps its checkpoints
)


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(re.search(pattern, record.getMessage()) for pattern in NOISE)


def quiet_lightning() -> None:
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_Quiet())
    logging.getLogger("lightning_fabric.utilities.rank_zero").addFilter(_Quiet())
    for pattern in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
