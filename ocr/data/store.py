"""A store of word images made for training speed: uint8, sharded, memory-mapped.

Layout of a store folder::

    shard-00000.npy    the shard's images, each flattened (imgH x width), concatenated
    shard-00000.json   their widths and labels; written after the .npy: its presence
                       means the shard is whole
    manifest.json      written last: its presence means the whole store is whole

A million images are a few hundred files, opened as memory maps, so the store needs
neither a file per image nor the whole set in RAM. Every file is written to a temporary
name and renamed, so a killed writer leaves either nothing or a whole file; building a
store again skips the shards that are already whole (rendering resumes) and a store
without its manifest is never read as if complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ocr.files import atomic_write

MANIFEST = "manifest.json"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def shard_is_whole(folder: Path, index: int, span: tuple[int, int] | None = None) -> bool:
    """Whether shard ``index`` was written whole (and, given ``span``, holds the items
    ``span`` names: a shard of another layout is not)."""
    path = folder / f"{shard_name(index)}.json"
    if span is None or not path.exists():
        return path.exists()
    return json.loads(path.read_text()).get("span") == list(span)


def write_shard(
    folder: Path, index: int, images: list[np.ndarray], labels: list[str], span: tuple[int, int] | None = None
) -> None:
    """Shard ``index``: ``images`` and ``labels``, and the items of its set it was made
    from (``span``, start and stop) when there is such a set."""
    heights = {im.shape[0] for im in images}
    if len(heights) > 1:
        raise ValueError(f"a shard holds images of one height, got {sorted(heights)}")
    pixels = np.concatenate([im.reshape(-1) for im in images]) if images else np.zeros(0, np.uint8)
    meta = {
        "height": heights.pop() if heights else 0,
        "widths": [int(im.shape[1]) for im in images],
        "labels": list(labels),
        **({"span": list(span)} if span else {}),
    }
    atomic_write(folder / f"{shard_name(index)}.npy", lambda f: np.save(f, pixels.astype(np.uint8)))
    atomic_write(folder / f"{shard_name(index)}.json", lambda f: json.dump(meta, f, ensure_ascii=False), "w")


def is_complete(folder: Path) -> bool:
    return (folder / MANIFEST).exists()


def write_manifest(folder: Path, num_shards: int, info: dict) -> None:
    missing = [i for i in range(num_shards) if not shard_is_whole(folder, i)]
    if missing:
        raise RuntimeError(f"store {folder} lacks shards {missing[:10]}; it cannot be marked complete")
    count = sum(len(json.loads((folder / f"{shard_name(i)}.json").read_text())["widths"]) for i in range(num_shards))
    manifest = {"num_shards": num_shards, "count": count, "info": info}
    atomic_write(folder / MANIFEST, lambda f: json.dump(manifest, f, indent=1), "w")


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (across processes) while building it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class ImageStore:
    """Read side of a complete store: ``len``, ``image(i)``, ``labels``, ``widths``."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not is_complete(self.folder):
            raise FileNotFoundError(f"{self.folder} is not a complete image store (no {MANIFEST})")
        manifest = json.loads((self.folder / MANIFEST).read_text())
        self.info = manifest["info"]
        widths, labels, shard_of, heights = [], [], [], set()
        for i in range(manifest["num_shards"]):
            meta = json.loads((self.folder / f"{shard_name(i)}.json").read_text())
            widths.extend(meta["widths"])
            labels.extend(meta["labels"])
            shard_of.extend([i] * len(meta["widths"]))
            if meta["widths"]:
                heights.add(meta["height"])
        if len(heights) > 1:
            raise ValueError(f"store {self.folder} mixes image heights {sorted(heights)}")
        self.height = heights.pop() if heights else 0
        self.widths = np.asarray(widths, dtype=np.int64)
        self.labels = labels
        self._shard_of = np.asarray(shard_of, dtype=np.int64)
        # Offset of each image inside its shard's flat pixel array (shards are contiguous).
        sizes = self.widths * self.height
        starts = np.cumsum(sizes) - sizes
        shards, first = np.unique(self._shard_of, return_index=True)
        shard_start = np.zeros(manifest["num_shards"], dtype=np.int64)
        shard_start[shards] = starts[first]
        self._offsets = starts - shard_start[self._shard_of]
        self._pixels: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def _shard(self, index: int) -> np.ndarray:
        # Memory maps are opened lazily, so each DataLoader worker opens its own.
        if index not in self._pixels:
            self._pixels[index] = np.load(self.folder / f"{shard_name(index)}.npy", mmap_mode="r")
        return self._pixels[index]

    def image(self, i: int) -> np.ndarray:
        start, width = self._offsets[i], self.widths[i]
        flat = self._shard(int(self._shard_of[i]))[start : start + width * self.height]
        return np.array(flat).reshape(self.height, width)

    def __getstate__(self) -> dict:
        # Workers receive the index, not open memory maps.
        return {**self.__dict__, "_pixels": {}}
