"""Writing files so that each is complete or absent, and locking a run directory."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path


def atomic_write(path: Path, write: Callable[[object], None], mode: str = "wb") -> None:
    """Write ``path`` through a temporary file in the same folder, then rename it: a
    killed writer leaves the previous file, or none, never a cut one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def cache_key(parts: list) -> str:
    """A name for what ``parts`` (plain JSON values) describe, 16 hex digits: the same parts
    (dicts in any order), the same name."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def write_json(path: str | Path, payload: dict) -> None:
    atomic_write(Path(path), lambda f: f.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n"), "w")


def tsv_lines(rows: Iterable[Sequence]) -> str:
    """Tab-separated lines; a field holding a tab, a newline or a quote is quoted (CSV
    rules), so that every file name and label reads back as it was."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def write_tsv(path: str | Path, rows: Iterable[Sequence]) -> None:
    atomic_write(Path(path), lambda f: f.write(tsv_lines(rows)), "w")


class RunDirectoryBusy(RuntimeError):
    pass


@contextlib.contextmanager
def lock_run_directory(folder: str | Path) -> Iterator[None]:
    """Hold ``folder/.lock`` while a run writes there; a second run in the same folder is
    refused. The operating system drops the lock when the process ends, even by
    ``kill -9``, so a dead run leaves no stale lock behind."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirectoryBusy(
                f"another run is writing to {folder}; wait for it to end or choose another hydra.run.dir"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_plain(value, where: str) -> None:
    """Refuse anything but plain values (str, numbers, bools, None, lists and dicts of
    them) and any key that Hydra would read as code (``_target_`` and its kin): what a
    file says is data, never something to build."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("_"):
                raise ValueError(f"{where} holds the key {key!r}: refused (only plain values are read from files)")
            check_plain(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, (str, int, float, bool, type(None))):
        raise ValueError(f"{where} is a {type(value).__name__}: refused (only plain values are read from files)")
