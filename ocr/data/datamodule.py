"""LightningDataModules: where the word images come from, and how they are batched."""

from __future__ import annotations

import functools
import logging
import zlib
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, Dataset

from ocr.data.batching import WIDTH_MULTIPLE, WidthBatchSampler, collate
from ocr.data.datasets import ConcatImages, LabelledImages, Mixture, RenderedWords, StoreDataset, Subset
from ocr.data.labels import check_folders, read_labels, screen
from ocr.data.lmdb_store import LmdbImages
from ocr.data.render import start_worker
from ocr.data.store import ImageStore
from ocr.data.synth import SPLITS, SynthSets
from ocr.files import check_plain
from ocr.options import check_number
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
        check_number("data.batch_size", batch_size, int, minimum=1)
        check_number("data.eval_batch_size", eval_batch_size, int, minimum=1, optional=True)
        check_number("data.num_workers", num_workers, int, minimum=0)
        check_number("data.max_width", max_width, int, minimum=8)
        check_number("data.val_fraction", val_fraction, float, minimum=0, below=1)
        check_number("data.width_multiple", width_multiple, int, minimum=1, optional=True)
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

    def loader(self, dataset: Dataset, train: bool, sharded: bool = True) -> DataLoader:
        """Batches of ``dataset`` of similar widths; ``sharded``: each DDP rank gets its
        share (``False``: this process reads it all)."""
        trainer = self.trainer if sharded else None
        sampler = WidthBatchSampler(
            dataset.widths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            drop_last=train and len(dataset) > self.batch_size,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            weights=getattr(dataset, "draw_weights", None) if train else None,
            draws=getattr(dataset, "draws", None) if train else None,
            fresh=train and getattr(dataset, "fresh", False),
        )
        # No more workers than batches: the others would never get one, yet stay alive
        # (Lightning keeps the validation loader's workers through each training epoch).
        workers = min(self.num_workers, len(sampler))
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=functools.partial(collate, multiple=self.padded_width_multiple()),
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0 and train,
            worker_init_fn=functools.partial(_start_loader_worker, rank=trainer.global_rank if trainer else 0),
        )

    def padded_width_multiple(self) -> int:
        """Batches' widths are padded up to a multiple of this: ``width_multiple``, or by
        default 32 on a GPU, where each new batch shape costs a cuDNN plan, and 8 on a CPU,
        where padding costs compute. (How much
        padding a batch has does not change what the model reads: see ``ocr.geometry``.)"""
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


def _start_loader_worker(worker_id: int, rank: int) -> None:
    """A loader worker's first step: ``start_worker``, then Lightning's seeding of its
    generators (``seed_everything(workers=True)``, which a loader with a
    ``worker_init_fn`` of its own would otherwise not get)."""
    start_worker()
    pl_worker_init_function(worker_id, rank)


class SynthDataModule(OCRDataModule):
    """Words rendered with trdg, as in the blog post: ``count`` images of training words split
    ``val_fraction`` for validation, and ``test_count`` images of held-out words
    (``ocr.data.synth.SynthSets``, whose arguments it takes beside OCRDataModule's).

    Rendered sets are cached under ``cache_dir`` by a key of everything that determines
    their pixels; a second run with the same settings renders nothing.
    """

    def __init__(self, alphabet: str, cache_dir: str, sets: SynthSets | None = None, **kwargs):
        """``sets``: the sets of this config already started (``ocr.data.synth.render_early``)."""
        # SynthSets takes what the sets need (count, fonts, style, ...) and shares imgH,
        # max_width and seed with the batching; the rest is OCRDataModule's.
        own = {k: kwargs.pop(k) for k in SynthSets.options(kwargs) if k not in ("imgH", "max_width", "seed")}
        super().__init__(alphabet=alphabet, **kwargs)
        self.sets = sets or SynthSets(
            alphabet=alphabet, cache_dir=cache_dir, imgH=self.imgH, max_width=self.max_width, seed=self.seed, **own
        )

    def prepare_data(self, splits: tuple[str, ...] = SPLITS) -> None:
        """Render the sets not in the cache yet (evaluation asks for ``("test",)`` only)."""
        self.sets.render(splits)

    def rendered_words(self) -> Dataset:
        """The training words' images: their store, or rendered as the loader asks
        (``stream``)."""
        if self.sets.stream:
            return RenderedWords(self.sets.jobs()["train"], name="synth", fresh=self.sets.fresh)
        return StoreDataset(ImageStore(self.sets.folder("train")), name="synth")

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            rendered = self.rendered_words()
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
        if format not in ("gt", "trdg", "lmdb"):
            raise ValueError(f"data.format must be gt, trdg or lmdb, got {format!r}")
        self.roots, self.test_roots = _folders(root), _folders(test_root)
        if not self.roots and not self.test_roots:
            raise ValueError("data.root (or data.test_root) must name a folder of labelled images")
        self.format, self.gt_file, self.unknown_chars = format, gt_file, unknown_chars

    def read(self, root: Path, test: bool = False) -> LabelledImages:
        return read_folder(root, self, self.format, self.gt_file, self.unknown_chars, test)

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


def read_folder(root: Path, data: OCRDataModule, format: str, gt_file: str, unknown_chars: str, test: bool):
    """A labelled folder's usable images, at ``data``'s height and widths. Test labels keep
    characters the model cannot produce: they are scored as the errors they will be."""
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    policy = "keep" if test else unknown_chars
    if format == "lmdb":
        return LmdbImages(root, data.alphabet, data.imgH, data.max_width, policy)
    entries = read_labels(root, format, gt_file)
    kept = screen(entries, root, data.alphabet, policy, data.max_width, keep_missing=test)
    return LabelledImages(kept, data.imgH, data.max_width, name=root.name)


class MixDataModule(SynthDataModule):
    """Rendered words and real labelled images in one training set: each epoch draws
    ``real_weight`` of its images from the real folders (``real_roots``, uniformly over
    their images; a list: each folder's own share, in their order) and the rest from the
    renders (``SynthDataModule``'s arguments).

    ``val_fraction`` of each real folder is held out, the same images whatever the other
    folders (a split seeded by ``seed`` and the folder's name): together they are the
    validation set, so checkpoints are chosen on real images, and each is a test set
    (``<folder>_heldout``) beside the renders' test set and the ``test_root`` folders.
    Real labels the alphabet cannot spell are left out and counted (``unknown_chars``).
    """

    def __init__(
        self,
        alphabet: str,
        cache_dir: str,
        real_roots: str | list[str],
        real_weight: float | list[float] = 0.5,
        draws: int | None = None,
        test_root: str | list[str] | None = None,
        gt_file: str = "gt.txt",
        unknown_chars: str = "skip",
        sets: SynthSets | None = None,
        **kwargs,
    ):
        super().__init__(alphabet=alphabet, cache_dir=cache_dir, sets=sets, **kwargs)
        check_number("data.draws", draws, int, minimum=1, optional=True)
        self.real_roots, self.test_roots = _folders(real_roots), _folders(test_root)
        if not self.real_roots:
            raise ValueError("data.real_roots must name at least one folder of real labelled images")
        self.real_weights = _real_weights(real_weight, len(self.real_roots))
        self.draws = draws
        if self.sets.fresh:
            raise ValueError("data.fresh=true is for data=synth: a mixture draws its renders with replacement")
        check_folders({"real_roots": real_roots, "test_root": test_root, "gt_file": gt_file})  # before any render
        self.gt_file, self.unknown_chars = gt_file, unknown_chars
        self.real: list[Dataset] = []  # each real folder's images not held out

    def held_out(self, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The training and held-out indices of a real folder of ``n`` images."""
        order = np.random.default_rng([self.seed, zlib.crc32(name.encode())]).permutation(n)
        n_held = int(round(n * self.val_fraction))
        return np.sort(order[n_held:]), np.sort(order[:n_held])

    def setup(self, stage: str | None = None) -> None:
        if self.val_set is None:
            real, held = [], {}
            for root in self.real_roots:
                images = read_folder(root, self, "gt", self.gt_file, self.unknown_chars, test=False)
                train_idx, held_idx = self.held_out(len(images), root.name)
                real.append(Subset(images, train_idx))
                held[f"{root.name}_heldout"] = Subset(images, held_idx)
            self.real, self.val_set = real, ConcatImages(list(held.values()))
            tests = {
                r.name: read_folder(r, self, "gt", self.gt_file, self.unknown_chars, test=True) for r in self.test_roots
            }
            test = StoreDataset(ImageStore(self.sets.folder("test")), name="synth_test")
            self.test_sets = {**held, "synth_test": test, **tests}
        if stage in (None, "fit", "validate") and self.train_set is None:  # testing needs no training renders
            rendered = self.rendered_words()
            n_real = sum(len(part) for part in self.real)
            draws = self.draws or len(rendered) + n_real
            shares = self.real_weights
            if len(shares) == 1:  # one share for all real images alike: each folder's by its size
                shares = [shares[0] * len(part) / max(n_real, 1) for part in self.real]
            self.train_set = Mixture([rendered, *self.real], [1 - sum(shares), *shares], draws)
            log.info(
                "data: %d renders and %d real images (%s of each epoch's %d draws), %d held out",
                len(rendered),
                n_real,
                ", ".join(f"{root.name} {share:.3g}" for root, share in zip(self.real_roots, shares)),
                draws,
                len(self.val_set),
            )


def _real_weights(value, folders: int) -> list[float]:
    """``data.real_weight`` as a list: one share for all real folders, or one each."""
    if value is None or isinstance(value, (int, float, str)):
        check_number("data.real_weight", value, float, minimum=0, maximum=1)
        return [float(value)]
    if len(value) != folders:
        raise ValueError(f"data.real_weight: {list(value)} names {len(value)} shares for {folders} data.real_roots")
    for k, share in enumerate(value):
        check_number(f"data.real_weight[{k}]", share, float, minimum=0, maximum=1)
    if sum(value) > 1:
        raise ValueError(f"data.real_weight: the shares {list(value)} add up to more than 1")
    return [float(share) for share in value]


def _folders(value: str | list[str] | None) -> list[Path]:
    if value is None:
        return []
    return [Path(v).expanduser() for v in ([value] if isinstance(value, (str, Path)) else value)]


# The data modules a checkpoint may name (by these names, never by a class path: nothing
# read from a file becomes code), and the class paths of the configs that build them.
DATA_MODULES = {"synth": SynthDataModule, "folder": FolderDataModule, "mix": MixDataModule}
_CONFIG_TARGETS = {f"{cls.__module__}.{cls.__name__}": name for name, cls in DATA_MODULES.items()}


def checkpoint_data_config(config: dict, root: str | Path) -> dict | None:
    """A composed data config (``cfg.data``, resolved) as a checkpoint keeps it: the data
    module's registered name and plain values, paths inside the project's folder ``root``
    relative to it (``data/photos/debian``, read from the project's folder on any machine,
    not the folder it was trained in); None for a data module of the user's own."""
    name = _CONFIG_TARGETS.get(config.get("_target_"))
    if name is None:
        return None
    return relative_paths({"name": name, **{k: v for k, v in config.items() if not k.startswith("_")}}, Path(root))


def relative_paths(value, root: Path):
    """``value`` (nested dicts and lists) with each absolute path inside ``root`` written
    relative to it."""
    if isinstance(value, dict):
        return {k: relative_paths(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(relative_paths(v, root) for v in value)
    if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_relative_to(root):
        return Path(value).relative_to(root).as_posix()
    return value


def upgrade_data_config(config: dict | None) -> dict | None:
    """A data config as checkpoints of earlier versions kept it (the class path of the data
    module in ``_target_``) in today's form; a class path not registered is refused."""
    if config is None or "_target_" not in config:
        return config
    name = _CONFIG_TARGETS.get(config["_target_"])
    if name is None:
        raise ValueError(
            f"the checkpoint's data config names {config['_target_']!r}, not one of the data modules "
            f"{sorted(DATA_MODULES)}: refused; name the data to evaluate on, e.g. data=folder data.root=DIR"
        )
    return {"name": name, **{k: v for k, v in config.items() if k not in ("_target_", "_convert_", "_recursive_")}}


def datamodule_from_checkpoint(config: dict, overrides: dict) -> OCRDataModule:
    """The data module a checkpoint's data config describes (``checkpoint_data_config``),
    with ``overrides`` for the arguments it takes. Only registered data modules are built,
    from plain values; anything else is refused."""
    check_plain(config, "the checkpoint's data config")
    config = dict(config)
    name = config.pop("name", None)
    if name not in DATA_MODULES:
        raise ValueError(
            f"the checkpoint's data config names {name!r}, not one of the data modules {sorted(DATA_MODULES)}"
        )
    config.update({k: v for k, v in overrides.items() if k in config or k in ("alphabet", "imgH")})
    try:
        return DATA_MODULES[name](**config)
    except TypeError as err:
        raise ValueError(f"the checkpoint's data config does not fit the {name} data module: {err}") from None
