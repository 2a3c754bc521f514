"""LMDB datasets in the layout of deep-text-recognition-benchmark and parseq:
``num-samples``, ``image-%09d`` (encoded image bytes) and ``label-%09d``, from 1.

Convert a labelled folder (gt.txt or trdg's output) into one:

    python -m ocr.data.lmdb_store SOURCE_DIR TARGET_DIR [--format gt|trdg] [--gt-file gt.txt]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ocr.data.batching import Item
from ocr.data.datasets import item_width, read_item
from ocr.data.images import header_width
from ocr.data.labels import read_labels, screen, screen_labels
from ocr.text import nfc

log = logging.getLogger(__name__)


def _open(root: Path):
    import lmdb

    if not (root / "data.mdb").is_file():
        raise FileNotFoundError(f"{root} is not an LMDB folder (no data.mdb)")
    return lmdb.open(str(root), readonly=True, lock=False, readahead=False, meminit=False, max_readers=256)


class LmdbImages(Dataset):
    """An LMDB of labelled images, read lazily; each process opens its own environment
    (an LMDB handle must not cross a fork), so DataLoader workers read safely."""

    def __init__(self, root: str | Path, alphabet: str, imgH: int, max_width: int, unknown_chars: str = "error"):
        self.root, self.imgH, self.max_width = Path(root), imgH, max_width
        self.name = self.root.name
        env = _open(self.root)
        entries = []
        with env.begin() as txn:
            count = int(txn.get(b"num-samples") or b"0")
            widths = {}
            for i in range(1, count + 1):
                label = txn.get(f"label-{i:09d}".encode())
                if label is None:
                    continue
                entries.append((i, nfc(label.decode("utf-8")), f"{self.root}:label-{i:09d}"))
                widths[i] = header_width(txn.get(f"image-{i:09d}".encode()), imgH, max_width)
        env.close()
        kept = screen_labels(entries, str(self.root), alphabet, unknown_chars, max_width)
        self.keys = [key for key, _ in kept]
        self.labels = [label for _, label in kept]
        self.widths = np.array([item_width(widths[k], lab) for k, lab in kept], dtype=np.int64)
        self._env, self._pid = None, None

    @property
    def names(self) -> list[str]:
        return [f"{self.name}/image-{k:09d}" for k in self.keys]

    def __len__(self) -> int:
        return len(self.keys)

    def source(self, i: int) -> bytes | None:
        """Image ``i``'s encoded bytes (None where none is stored)."""
        if self._pid != os.getpid():
            if self._env is not None:
                # Inherited through a fork: py-lmdb would refuse a second handle on the same
                # path, and the parent's must not be used here. Closing this process's
                # copy (read-only, no lock file) leaves the parent's untouched.
                self._env.close()
            self._env, self._pid = _open(self.root), os.getpid()
        with self._env.begin() as txn:
            return txn.get(f"image-{self.keys[i]:09d}".encode())

    def __getitem__(self, i: int) -> Item:
        data, name = self.source(i), f"{self.name}/image-{self.keys[i]:09d}"
        if data is None:
            log.warning("unreadable: %s: no image stored", name)
            return i, None, self.labels[i]
        return read_item(i, data, self.labels[i], self.imgH, self.max_width, name)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_env": None, "_pid": None}


def write_lmdb(entries: list[tuple[str, str]], target: str | Path, map_size: int = 1 << 40) -> Path:
    """Write ``(image path, label)`` pairs; the folder appears only once complete."""
    import lmdb

    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new folder")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    env = lmdb.open(str(partial), map_size=map_size)
    with env.begin(write=True) as txn:
        for i, (path, label) in enumerate(entries, 1):
            txn.put(f"image-{i:09d}".encode(), Path(path).read_bytes())
            txn.put(f"label-{i:09d}".encode(), label.encode("utf-8"))
        txn.put(b"num-samples", str(len(entries)).encode())
    env.close()
    os.replace(partial, target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert a labelled image folder into an LMDB dataset.")
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--format", choices=["gt", "trdg"], default="gt")
    parser.add_argument("--gt-file", default="gt.txt")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    entries = read_labels(args.source, args.format, args.gt_file)
    # Every character is kept: the alphabet is the training run's choice, not the store's.
    alphabet = "".join(sorted({c for _, label, _ in entries for c in label}))
    kept = screen(entries, args.source, alphabet or "?", "keep", max_width=10**6)
    write_lmdb(kept, args.target)
    print(f"wrote {len(kept)} images to {args.target}")


if __name__ == "__main__":
    main()
