"""Datasets of labelled word images. Each has ``labels``, ``widths`` (after resizing to
imgH, for batching by width), ``names`` (for reports) and items ``(index, image, label)``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset

from ocr.data.batching import Item, index_dtype
from ocr.data.images import ImageError, header_width, pad_to_width, read_image
from ocr.data.render import RenderJob, read_photos, render_word
from ocr.data.store import ImageStore
from ocr.data.words import Texts
from ocr.geometry import label_width

log = logging.getLogger(__name__)


class StoreDataset(Dataset):
    """A whole image store (``Subset`` takes parts of it)."""

    def __init__(self, store: ImageStore, name: str = ""):
        self.store = store
        self.name = name or store.folder.name
        self.labels, self.widths = store.labels, store.widths

    @property
    def names(self) -> list[str]:
        return [f"{self.name}/{i}" for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, i: int) -> Item:
        return i, self.store.image(i), self.labels[i]


class RenderedWords(Dataset):
    """The images of a ``RenderJob`` rendered when asked for (``data.stream``), in the data
    loader's workers: the pixels of the store the job would render, without the store.
    Widths for batching are estimated from the words' lengths (images are not known
    before they are drawn): batches hold words of similar length.

    ``fresh``: indices past the words are valid and draw them again with other looks
    (index ``i`` is word ``i % len(self)``; see ``render_word``): the training loader
    then asks for new indices every epoch (``WidthBatchSampler``'s ``fresh``)."""

    def __init__(self, job: RenderJob, name: str = "synth", fresh: bool = False):
        self.job, self.name, self.fresh = job, name, fresh
        read_photos(job.style)  # here, before the loader's workers fork: one copy for all
        self.labels = job.words
        if isinstance(job.words, Texts):  # estimated without drawing the texts
            self.widths = job.words.widths()
        else:
            self.widths = np.array([label_width(word) for word in self.labels], dtype=np.int64)

    @property
    def names(self) -> list[str]:
        return [f"{self.name}/{i}" for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Item:
        word = i % len(self)
        return word, render_word(self.job, i), self.labels[word]


def item_width(header: int, label: str) -> int:
    """The width an item will have: its image's, or wider where its label needs more frames."""
    return max(header, label_width(label))


def read_item(index: int, source, label: str, imgH: int, max_width: int, name: str) -> Item:
    """A labelled image read from a file or bytes, wide enough for its label's CTC
    frames; its image None (reported) when it cannot be read."""
    try:
        image = read_image(source, imgH, max_width, name=name)
    except ImageError as err:
        log.warning("unreadable: %s", err)
        return index, None, label
    return index, pad_to_width(image, label_width(label)), label


class LabelledImages(Dataset):
    """Image files with labels, read lazily; what ``labels.py`` parsed and screened.

    Widths for batching come from the image headers, without decoding. An image that
    fails to decode later is reported and comes without pixels (see ``collate``).
    """

    def __init__(self, entries: Sequence[tuple[str, str]], imgH: int, max_width: int, name: str):
        self.paths = [path for path, _ in entries]
        self.labels = [label for _, label in entries]
        self.imgH, self.max_width, self.name = imgH, max_width, name
        self.widths = np.array([item_width(header_width(p, imgH, max_width), lab) for p, lab in entries], np.int64)

    @property
    def names(self) -> list[str]:
        return self.paths

    def __len__(self) -> int:
        return len(self.paths)

    def source(self, i: int) -> str:
        """Where image ``i`` is read from (a path)."""
        return self.paths[i]

    def __getitem__(self, i: int) -> Item:
        return read_item(i, self.paths[i], self.labels[i], self.imgH, self.max_width, self.paths[i])


class ConcatImages(Dataset):
    """Several datasets as one, keeping ``labels``, ``widths`` and ``names``."""

    def __init__(self, parts: Sequence[Dataset]):
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.widths = np.concatenate([p.widths for p in self.parts])
        self.name = "+".join(p.name for p in self.parts)

    @functools.cached_property
    def labels(self) -> list[str]:
        """Looked up when first asked for (rendered texts are drawn then)."""
        return [label for p in self.parts for label in p.labels]

    @property
    def names(self) -> list[str]:
        return [name for p in self.parts for name in p.names]

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> Item:
        part = int(np.searchsorted(self.offsets, i, side="right")) - 1
        _, image, label = self.parts[part][i - int(self.offsets[part])]
        return i, image, label


class Mixture(ConcatImages):
    """Datasets drawn with weights: an epoch draws ``draws`` images (all of them by
    default), from each dataset its ``weights`` share, uniformly within it (with
    replacement: a small set is seen several times an epoch, a large one in part)."""

    def __init__(self, parts: Sequence[Dataset], weights: Sequence[float], draws: int | None = None):
        super().__init__(parts)
        weights = np.asarray(weights, dtype=np.float64)
        if len(weights) != len(self.parts) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"mixture weights must be {len(self.parts)} numbers >= 0, not all 0: {list(weights)}")
        weights = np.where([len(p) > 0 for p in self.parts], weights, 0.0)
        shares = weights / weights.sum()
        self.draw_weights = np.concatenate([np.full(len(p), s / max(len(p), 1)) for p, s in zip(self.parts, shares)])
        self.draws = draws or len(self)


class Subset(Dataset):
    """Some indices of a dataset, with its ``labels``, ``widths`` and ``names``; of a
    ``fresh`` dataset, index ``i`` past the subset's length is its image ``i % len(self)``
    drawn again (round ``i // len(self)`` of the dataset's indices)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=index_dtype(len(dataset)))
        self.widths = np.asarray(dataset.widths)[self.indices]
        self.name = dataset.name
        self.fresh = getattr(dataset, "fresh", False)

    @functools.cached_property
    def labels(self) -> list[str]:
        """Looked up when first asked for (rendered texts are drawn then)."""
        labels = self.dataset.labels
        return [labels[i] for i in self.indices.tolist()]

    @property
    def names(self) -> list[str]:
        names = self.dataset.names
        return [names[i] for i in self.indices.tolist()]

    @property
    def source(self):
        """The dataset's ``source`` by this subset's indices (an AttributeError where the
        dataset has none: rendered images)."""
        inner = self.dataset.source
        return lambda i: inner(int(self.indices[i]))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Item:
        own, again = i % len(self), i // len(self)
        _, image, label = self.dataset[int(self.indices[own]) + again * len(self.dataset)]
        return own, image, label
