"""Datasets of labelled word images. Each has ``labels``, ``widths`` (after resizing to
imgH, for batching by width), ``names`` (for reports) and items ``(index, image, label)``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset

from ocr.data.batching import Item
from ocr.data.store import ImageStore


class StoreDataset(Dataset):
    """A subset (``indices``) of an image store."""

    def __init__(self, store: ImageStore, indices: Sequence[int] | np.ndarray | None = None, name: str = ""):
        self.store = store
        self.indices = np.arange(len(store)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.name = name or store.folder.name
        self.labels = [store.labels[i] for i in self.indices]
        self.widths = store.widths[self.indices]

    @property
    def names(self) -> list[str]:
        return [f"{self.name}/{i}" for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Item:
        return i, self.store.image(int(self.indices[i])), self.labels[i]
