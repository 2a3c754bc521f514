"""LightningDataModules: where the word images come from, and how they are batched."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ocr.data.batching import WIDTH_MULTIPLE, WidthBatchSampler, collate
from ocr.data.datasets import ConcatImages, LabelledImages, StoreDataset, Subset
from ocr.data.labels import read_gt_file, read_trdg_folder, screen
from ocr.data.lmdb_store import LmdbImages
from ocr.data.store import ImageStore
from ocr.data.synth import SPLITS, SynthSets
from ocr.text import check_alphabet

log = logging.getLogger(__name__)


class OCRDataModule(pl.LightningDataModule):
    """Batching shared by every data source. Subclasses set ``train_set``, ``val_set`` and
    ``test_sets`` (name -> dataset) in ``setup``."""

    def __init__(
        self,
        alphabet: str,
        imgH: int = 32,
        max_width: int = 800,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = True,
        seed: int = 1234,
        val_fraction: float = 0.2,
        width_multiple: int | None = None,
    ):
        super().__init__()
        self.alphabet = check_alphabet(alphabet)
        self.imgH, self.max_width, self.width_multiple = imgH, max_width, width_multiple
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.seed, self.val_fraction = seed, val_fraction
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_sets: dict[str, Dataset] = {}

    def split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of a random (seeded) train/validation split, ``val_fraction`` validation."""
        order = np.random.default_rng(self.seed).permutation(n)
        n_val = int(round(n * self.val_fraction))
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def prepare_data(self, splits: tuple[str, ...] = ("train", "test")) -> None:
        """Make what ``splits`` need on disk (nothing for data users bring)."""

    def loader(self, dataset: Dataset, train: bool) -> DataLoader:
        trainer = self.trainer
        sampler = WidthBatchSampler(
            dataset.widths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            drop_last=train and len(dataset) > self.batch_size,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
        )
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=functools.partial(collate, multiple=self.padded_width_multiple(train)),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0 and train,
        )

    def padded_width_multiple(self, train: bool) -> int:
        """Batches' width multiple. Evaluation: 8, as evaluate.py and the Recognizer pad, so
        that a run's validation and test figures are what evaluate.py gives for its
        checkpoint. Training: ``width_multiple``, or by default 32 on a GPU, where each new
        batch shape costs a cuDNN plan (~70 ms for a training step on an H100), and 8 on a
        CPU, where padding costs compute."""
        if not train:
            return WIDTH_MULTIPLE
        if self.width_multiple:
            return self.width_multiple
        on_gpu = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return 32 if on_gpu else WIDTH_MULTIPLE

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.val_set, train=False)

    def test_dataloader(self) -> list[DataLoader]:
        return [self.loader(d, train=False) for d in self.test_sets.values()]


class SynthDataModule(OCRDataModule):
    """Words rendered with trdg, as in the seed: ``count`` images of training words split
    ``val_fraction`` for validation, and ``test_count`` images of held-out words
    (``ocr.data.synth.SynthSets``, whose arguments it takes beside OCRDataModule's).

    Rendered sets are cached under ``cache_dir`` by a key of everything that determines
    their pixels; a second run with the same settings renders nothing.
    """

    def __init__(self, alphabet: str, cache_dir: str, **kwargs):
        # SynthSets takes what the sets need (count, fonts, style, ...) and shares imgH,
        # max_width and seed with the batching; the rest is OCRDataModule's.
        own = {k: kwargs.pop(k) for k in SynthSets.options(kwargs) if k not in ("imgH", "max_width", "seed")}
        super().__init__(alphabet=alphabet, **kwargs)
        self.sets = SynthSets.shared(
            alphabet=alphabet, cache_dir=cache_dir, imgH=self.imgH, max_width=self.max_width, seed=self.seed, **own
        )

    def prepare_data(self, splits: tuple[str, ...] = SPLITS) -> None:
        """Render the sets not in the cache yet (evaluation asks for ``("test",)`` only)."""
        self.sets.render(splits)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            rendered = StoreDataset(ImageStore(self.sets.folder("train")), name="synth")
            train_idx, val_idx = self.split(len(rendered))
            self.train_set, self.val_set = Subset(rendered, train_idx), Subset(rendered, val_idx)
            log.info("data: %d train, %d validation images (%s)", len(train_idx), len(val_idx), self.sets.cache_dir)
        if not self.test_sets:
            self.test_sets = {"synth_test": StoreDataset(ImageStore(self.sets.folder("test")), name="synth_test")}


class FolderDataModule(OCRDataModule):
    """Labelled images users bring: one folder or a list of them.

    ``root`` is the training data (``val_fraction`` of it held out for validation);
    ``test_root`` the test data, one test set per folder (without it, the validation
    split is the test set). ``format``: ``gt`` (a ``gt_file`` of ``<path>\\t<label>``
    lines), ``trdg`` (trdg's output folders) or ``lmdb``.
    """

    def __init__(
        self,
        alphabet: str,
        root: str | list[str] | None = None,
        test_root: str | list[str] | None = None,
        format: str = "gt",
        gt_file: str = "gt.txt",
        unknown_chars: str = "error",
        **kwargs,
    ):
        super().__init__(alphabet=alphabet, **kwargs)
        if format not in (*READERS, "lmdb"):
            raise ValueError(f"data.format must be gt, trdg or lmdb, got {format!r}")
        self.roots, self.test_roots = _folders(root), _folders(test_root)
        if not self.roots and not self.test_roots:
            raise ValueError("data.root (or data.test_root) must name a folder of labelled images")
        self.format, self.gt_file, self.unknown_chars = format, gt_file, unknown_chars

    def read(self, root: Path, test: bool = False) -> LabelledImages:
        """A folder's usable images. Test labels keep characters the model cannot
        produce: they are scored as the errors they will be."""
        if not root.is_dir():
            raise FileNotFoundError(f"data folder {root} does not exist")
        policy = "keep" if test else self.unknown_chars
        if self.format == "lmdb":
            return LmdbImages(root, self.alphabet, self.imgH, self.max_width, policy)
        entries = READERS[self.format](root, self.gt_file)
        kept = screen(entries, root, self.alphabet, policy, self.max_width)
        return LabelledImages(kept, self.imgH, self.max_width, name=root.name)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None and self.roots:
            data = ConcatImages([self.read(r) for r in self.roots])
            train_idx, val_idx = self.split(len(data))
            self.train_set, self.val_set = Subset(data, train_idx), Subset(data, val_idx)
        if not self.test_sets:
            if self.test_roots:
                self.test_sets = {r.name: self.read(r, test=True) for r in self.test_roots}
            elif self.val_set is not None:
                self.test_sets = {"val": self.val_set}


# Label files of folder formats (an LMDB holds its labels: LmdbImages reads them).
READERS = {
    "gt": lambda root, gt_file: read_gt_file(root, gt_file),
    "trdg": lambda root, gt_file: read_trdg_folder(root),
}


def _folders(value: str | list[str] | None) -> list[Path]:
    if value is None:
        return []
    return [Path(v).expanduser() for v in ([value] if isinstance(value, (str, Path)) else value)]
