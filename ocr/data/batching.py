"""Batches: similar widths together, padded on the right with each image's background.

Images travel as uint8 (a quarter of the bytes of float32); the model turns them into
floats on its device, a whole batch at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from ocr.data.images import batch_height, pad_batch, padded_width

# Widths are padded up to a multiple of this (friendlier kernel shapes, fewer shapes).
WIDTH_MULTIPLE = 8

# (index in its dataset, uint8 image imgH x w or None when it cannot be read, label)
Item = tuple[int, np.ndarray | None, str]


def index_dtype(n: int) -> type:
    """The integer type that holds indices below ``n``: int32 (half the memory: a run of
    10 M streamed images holds several arrays of them) unless ``n`` needs int64."""
    return np.int32 if n <= np.iinfo(np.int32).max else np.int64


def collate(items: Sequence[Item], multiple: int = WIDTH_MULTIPLE) -> dict:
    """Stack items into ``images`` (B, 1, H, W) uint8, ``widths``, ``labels`` and ``index``,
    W padded for ``pad_batch`` up to a multiple of ``multiple``.

    Items whose image could not be read are left out of these and listed in
    ``unreadable`` as (index, label): evaluation counts them as wrong readings.
    """
    kept = [item for item in items if item[1] is not None]
    unreadable = [(index, label) for index, image, label in items if image is None]
    if not kept:
        return {
            "images": torch.zeros(0, 1, 1, multiple, dtype=torch.uint8),
            "widths": torch.zeros(0, dtype=torch.long),
            "labels": [],
            "index": torch.zeros(0, dtype=torch.long),
            "unreadable": unreadable,
        }
    batch = pad_batch([image for _, image, _ in kept], multiple)
    widths = [image.shape[1] for _, image, _ in kept]
    return {
        "images": torch.from_numpy(batch),
        "widths": torch.tensor(widths, dtype=torch.long),
        "labels": [label for _, _, label in kept],
        "index": torch.tensor([index for index, _, _ in kept], dtype=torch.long),
        "unreadable": unreadable,
    }


def pad_on_device(images: Sequence[np.ndarray], device: torch.device, multiple: int = WIDTH_MULTIPLE) -> torch.Tensor:
    """``pad_batch`` done on ``device``, the same pixels: the images travel side by side
    as one strip and are cut and padded there by a gather. The host does one
    concatenation per batch instead of a copy per image (a GPU reads faster than the
    host pads)."""
    height, widths = batch_height(images), np.array([image.shape[1] for image in images])
    width = padded_width(widths, multiple)
    pinned = device.type == "cuda"  # so that the copies below do not wait for the GPU
    strip = torch.empty((height, int(widths.sum())), dtype=torch.uint8, pin_memory=pinned)
    np.concatenate(images, axis=1, out=strip.numpy())
    widths = torch.from_numpy(widths).pin_memory() if pinned else torch.from_numpy(widths)
    strip, widths = strip.to(device, non_blocking=True), widths.to(device, non_blocking=True)
    starts = torch.cumsum(widths, 0) - widths
    x = torch.arange(width, device=device)
    columns = starts[:, None] + torch.minimum(x, widths[:, None] - 1)  # (B, W) into the strip
    # Each image's background: the median of its last column, as np.median then uint8.
    last = strip[:, starts + widths - 1].sort(dim=0).values.int()  # (H, B)
    background = ((last[(height - 1) // 2] + last[height // 2]) // 2).to(torch.uint8)
    batch = torch.where(x < widths[:, None], strip[:, columns], background[:, None])  # (H, B, W)
    return batch.permute(1, 0, 2).unsqueeze(1)


class WidthBatchSampler(Sampler[list[int]]):
    """Batches of indices whose images have similar widths, sharded over DDP ranks.

    Training (``shuffle=True``): each epoch shuffles (or, given ``weights``, draws
    ``draws`` indices with these probabilities, with replacement), sorts windows of
    ``pool`` batches by width, cuts them into batches and shuffles the batches; every rank
    gets the same number of batches. Evaluation: batches in width order, each index on
    exactly one rank (summed metrics count every sample once), the same number of batches
    on every rank. ``fresh`` (training): epoch ``e`` yields index ``i`` as
    ``e * len(widths) + i``, which a ``fresh`` dataset draws anew: no index twice in a run.
    """

    def __init__(
        self,
        widths: Sequence[int] | np.ndarray,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        pool: int = 64,
        weights: np.ndarray | None = None,
        draws: int | None = None,
        fresh: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.widths = np.asarray(widths)
        self.weights, self.draws = weights, draws or len(self.widths)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size, self.pool = drop_last, rank, world_size, pool
        self.fresh, self.epoch = fresh, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> "WidthBatchSampler":
        """Lightning sets the epoch of a batch sampler's ``sampler`` at each epoch's start
        (never of the batch sampler itself): this one is its own, else every epoch would
        repeat the first one's batches (and, with ``weights``, its draws)."""
        return self

    def _batches(self) -> list[np.ndarray]:
        n = len(self.widths)
        if not self.shuffle:
            # Every rank takes every world_size-th image in width order and cuts its share
            # into the same number of batches: each image is seen once, and the ranks run
            # the same number of steps (DDP's forward is a collective).
            share = np.argsort(self.widths, kind="stable")[self.rank :: self.world_size]
            return np.array_split(share, self._eval_batches()) if n else []
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(n) if self.weights is None else rng.choice(n, size=self.draws, p=self.weights)
        order, n = order.astype(index_dtype(n), copy=False), len(order)
        window = self.batch_size * self.pool
        chunks = np.split(order, range(window, n, window)) if n else []
        order = np.concatenate([c[np.argsort(self.widths[c], kind="stable")] for c in chunks]) if n else order
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches[: len(batches) // self.world_size * self.world_size][self.rank :: self.world_size]

    def _eval_batches(self) -> int:
        return math.ceil(math.ceil(len(self.widths) / self.world_size) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        # Fresh indices are shifted batch by batch (in int64: past the int32 range in long runs).
        shift = np.int64(self.epoch * len(self.widths)) if self.shuffle and self.fresh else 0
        return ((batch + shift).tolist() for batch in self._batches())

    def __len__(self) -> int:
        if not self.shuffle:
            return self._eval_batches()
        n = len(self.widths) if self.weights is None else self.draws
        total = n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return total // self.world_size
