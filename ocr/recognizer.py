"""Reading images with a trained model:

    from ocr import Recognizer
    r = Recognizer.load("best.ckpt")        # or an exported model.onnx / model.ts; none: the shipped model
    r.read(["a.png", pil_image, array])      # -> [Reading(text, confidence), ...]

Several models of one alphabet (``Recognizer.load(["a.ckpt", "b.ckpt"], decode=...)``) read
as an ensemble: with a word-list decoder each candidate word is scored by every model.

Lightning checkpoints and TorchScript files run with PyTorch; ONNX files run with
onnxruntime alone: this module imports torch only when a PyTorch model is loaded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ocr.data.images import (
    MAX_WIDTH,
    image_size,
    open_image,
    pad_batch,
    padded_width,
    read_image,
    text_angle,
    to_gray,
    to_model_input,
    untilt,
)
from ocr.decoding import Decoder
from ocr.geometry import output_frames
from ocr.text import BLANK, CTCCodec, best_frames
from ocr.weights import model_paths, reading_path
from ocr.wordshape import WordShape

ImageLike = "str | Path | bytes | np.ndarray | Image.Image"
# Images per model call by default: on a CPU larger batches leave its caches and read slower.
BATCH_SIZE = {"gpu": 256, "cpu": 64}
# The weight of a turned reading's word shape against its letters' confidence: the best
# of 0.1-1.0 on turned copies of IIIT5K, SVT and ICDAR 2015 train (docs/results.md).
WORD_WEIGHT = 0.1


@dataclass
class Reading:
    text: str
    confidence: float


def stretch(pixels, factor: float):
    """A padded batch ``(B, 1, H, W)`` or an image ``(H, W)``, numpy or torch, widened by
    ``factor`` (linear)."""
    if factor == 1:
        return pixels
    width = pixels.shape[-1]
    x = np.clip((np.arange(max(1, round(width * factor))) + 0.5) / factor - 0.5, 0, width - 1)
    left = np.floor(x).astype(np.int64)
    right, frac = np.minimum(left + 1, width - 1), (x - left).astype(np.float32)
    if isinstance(pixels, np.ndarray):
        mixed = pixels[..., left] * (1 - frac) + pixels[..., right] * frac
        return np.rint(mixed).astype(np.uint8)
    import torch

    left, right, frac = (torch.from_numpy(a).to(pixels.device) for a in (left, right, frac))
    mixed = pixels[..., left].float() * (1 - frac) + pixels[..., right].float() * frac
    return mixed.round().to(torch.uint8)


def stretch_batch(pixels: np.ndarray, widths: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A padded batch and its images' widths, widened by ``factor``, each image still
    followed by ``MARGIN`` columns of its background."""
    if factor == 1:
        return pixels, widths
    wide, widths = stretch(pixels, factor), np.ceil(widths * factor).astype(np.int64)
    missing = padded_width(widths) - wide.shape[-1]
    if missing > 0:  # the last column is every image's background
        wide = np.pad(wide, ((0, 0), (0, 0), (0, 0), (0, missing)), mode="edge")
    return wide, widths


class TorchBackend:
    """A PyTorch module mapping uint8 images ``(B, 1, H, W)`` and their widths ``(B,)``
    to logits, on a device (``takes_widths=False``: a module of images alone, as
    TorchScript files exported before widths were an input)."""

    def __init__(self, module, device: str | None = None, precision: str = "auto", takes_widths: bool = True):
        import torch

        from ocr.devices import pick_device

        self.torch, self.device, self.precision = torch, pick_device(device), precision
        # Channels last: convolutions and poolings 2.3x faster on a CPU (docs/results.md).
        self.module = module.to(self.device, memory_format=torch.channels_last).eval()
        self.takes_widths = takes_widths
        self.batch_size = BATCH_SIZE["gpu" if self.device.type == "cuda" else "cpu"]

    def pad(self, images: list[np.ndarray]):
        """Prepared images as one batch: padded on the host, or on the GPU when the model
        runs there."""
        if self.device.type != "cuda":
            return pad_batch(images)
        from ocr.data.batching import pad_on_device

        return pad_on_device(images, self.device)

    def _forward(self, pixels, widths: np.ndarray):
        from ocr.devices import autocast

        images = pixels if isinstance(pixels, self.torch.Tensor) else self.torch.from_numpy(pixels)
        widths = self.torch.as_tensor(widths, dtype=self.torch.long)
        if images.device.type == "cpu" and self.device.type == "cuda":
            images = images.pin_memory()
        images = images.to(self.device, non_blocking=True).contiguous(memory_format=self.torch.channels_last)
        with self.torch.inference_mode(), autocast(self.device, self.precision):
            if not self.takes_widths:
                return self.module(images)
            return self.module(images, widths.to(self.device, non_blocking=True))

    def logits(self, pixels, widths: np.ndarray) -> np.ndarray:
        return self._forward(pixels, widths).float().cpu().numpy()

    def launch_greedy(self, pixels, widths: np.ndarray):
        """Start a batch and its best-path decoding; ``finish`` waits for the result.
        On a GPU the host can prepare the next batch meanwhile."""
        with self.torch.inference_mode():
            lengths = self.torch.from_numpy(output_frames(np.asarray(widths, dtype=np.int64)))
            indices, confidences = CTCCodec.best_path(self._forward(pixels, widths), lengths)
            if self.device.type != "cuda":
                return indices.numpy(), confidences.numpy(), None
            host = [
                self.torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True)
                for t in (indices, confidences)
            ]
            event = self.torch.cuda.Event()
            event.record()
            return host[0], host[1], event

    @staticmethod
    def finish(launched) -> tuple[np.ndarray, np.ndarray]:
        indices, confidences, event = launched
        if event is not None:
            event.synchronize()
            indices, confidences = indices.numpy(), confidences.numpy()
        return indices, confidences


class OnnxBackend:
    """An exported ONNX model run by onnxruntime (CUDA when present, else CPU)."""

    def __init__(self, path: str | Path, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.batch_size = BATCH_SIZE["gpu" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"]
        self.metadata = self.session.get_modelmeta().custom_metadata_map
        # Files exported before widths were an input take the images alone.
        self.takes_widths = "widths" in {i.name for i in self.session.get_inputs()}

    pad = staticmethod(pad_batch)

    def logits(self, pixels: np.ndarray, widths: np.ndarray) -> np.ndarray:
        inputs = {"images": pixels}
        if self.takes_widths:
            inputs["widths"] = np.asarray(widths, dtype=np.int64)
        return self.session.run(None, inputs)[0]


def view_options(cfg) -> dict:
    """The reading options that predict.yaml and evaluate.yaml share (``vertical``,
    ``vertical_words`` and the ``views`` group, conf/views/), as ``Recognizer`` takes them."""
    return dict(vertical=cfg.vertical, vertical_words=cfg.vertical_words, **view_keywords(cfg.views))


def view_preset(name: str) -> dict:
    """A preset of conf/views/ (``doubtful``) as ``Recognizer`` keywords, as ``views=NAME``
    sets them for predict.py: ``Recognizer.load(**view_preset("doubtful"))``. Every preset
    is ``none`` with its own keys over it (its defaults list), merged here as Hydra would,
    without touching the process's Hydra state (a caller may be a Hydra app)."""
    from omegaconf import OmegaConf

    from ocr.config import CONFIG_DIR

    folder = CONFIG_DIR / "views"
    if not (folder / f"{name}.yaml").is_file():
        raise ValueError(f"no view preset {name!r}: conf/views/ holds {sorted(p.stem for p in folder.glob('*.yaml'))}")
    views = OmegaConf.merge(OmegaConf.load(folder / "none.yaml"), OmegaConf.load(folder / f"{name}.yaml"))
    return view_keywords(views)


def view_keywords(views) -> dict:
    """A ``views`` config node (conf/views/) as ``Recognizer`` keywords."""
    return dict(
        tilts=views.tilts,
        level=views.level,
        stretches=views.stretches,
        trims=views.trims,
        invert=views.invert,
        views_below=views.below,
    )


class Recognizer:
    """A recogniser ready for inference: batching by width, decoding as configured.

    ``read`` takes paths, encoded bytes, PIL images or arrays (any mode Pillow knows)
    and returns one ``Reading`` per image, in order.

    ``vertical``: an image at least this many times taller than wide may hold a word
    written top to bottom (or bottom to top): it is also read turned a quarter each way
    (and, read with little confidence, in the other views below too), and of the readings
    the one kept is the one whose letters are the most confident and the most like words
    of ``vertical_words`` (a word list as ``decode.lexicon`` names it; see
    ``turn_scores``); the upright one on a tie, so that a tall "I" stays an "I". None:
    images are read as they are.

    ``tilts``: angles (degrees) at which a word may lie turned inside its crop, as in
    crops of signs photographed askew; each image read with a confidence below
    ``views_below`` is also read levelled at each of them, both ways (``untilt``), and
    the view kept as for ``vertical``. ``level``: such an image is also read levelled at
    the angle its lines of ink lie at (``text_angle``) and at each of these many degrees
    more and less (``[0, 4]``: three views; 0 alone, one), kept likewise. ``stretches``:
    factors by which such an image is also read wider (above 1: letters narrower than the
    training renders', as in tight crops of condensed lettering) or narrower (below 1),
    kept likewise. None or empty: off.
    ``trims``: fractions of its height cut off at its top and at its bottom, each a view
    (crops looser than the renders', which are cut close to the ink). ``invert``: also read
    with its grey levels inverted (light letters on dark as dark on light).
    """

    def __init__(
        self,
        backend,
        codec: CTCCodec,
        imgH: int,
        batch_size: int | None = None,
        max_width: int = MAX_WIDTH,
        decode: dict | None = None,
        vertical: float | None = 1.0,
        vertical_words: str | Path | list[str] | None = "english",
        tilts: Sequence[float] | None = None,
        level: Sequence[float] | None = None,
        stretches: Sequence[float] | None = None,
        trims: Sequence[float] | None = None,
        invert: bool = False,
        views_below: float = 1.0,
    ):
        """``backend``: one model, or a list of models of this alphabet (an ensemble).
        ``batch_size``: images per model call; None: the backend's (``BATCH_SIZE``)."""
        if vertical is not None and not vertical > 0:
            raise ValueError(f"vertical must be a ratio of height to width above 0 (or null: off), got {vertical}")
        self.backends = list(backend) if isinstance(backend, (list, tuple)) else [backend]
        self.backend, self.codec, self.imgH = self.backends[0], codec, imgH
        self.batch_size = batch_size or self.backend.batch_size
        self.max_width, self.vertical, self.vertical_words = max_width, vertical, vertical_words
        self.tilts = sorted({a for t in tilts or () for a in (float(t), -float(t)) if a})
        if any(abs(a) >= 45 for a in self.tilts):
            raise ValueError(f"tilts must lie between 0 and 45 degrees (beyond, use vertical), got {list(tilts)}")
        self.level = sorted({abs(float(d)) for d in level or ()})
        if any(d >= 45 for d in self.level):
            raise ValueError(f"level offsets must lie between 0 and 45 degrees, got {list(level)}")
        self.stretches = sorted({float(f) for f in stretches or ()} - {1.0})
        if any(not 0 < f <= 4 for f in self.stretches):
            raise ValueError(f"stretches must be factors of the width in (0, 4], got {list(stretches)}")
        self.trims = sorted({float(f) for f in trims or ()} - {0.0})
        if any(not 0 < f < 0.5 for f in self.trims):
            raise ValueError(f"trims must be fractions of the height in (0, 0.5), got {list(trims)}")
        self.invert, self.views_below = bool(invert), views_below
        self.decoder = Decoder(codec, **(decode or {}))
        if len(self.backends) > 1 and not self.decoder.uses_views:
            raise ValueError(
                f"{len(self.backends)} models are combined by decode.method=lexicon or dictionary "
                f"(each word scored by every model), not {self.decoder.method}"
            )

    @classmethod
    def load(
        cls, path: str | Path | None = None, device: str | None = None, precision: str = "auto", **kwargs
    ) -> "Recognizer":
        """From a training checkpoint (``.ckpt``), an ONNX file (``.onnx``) or TorchScript
        (``.ts``); with no path, the shipped English model (``ocr/weights/english.ckpt``;
        on a CPU its ONNX export, see ``ocr.weights.reading_path``).
        A list of paths: an ensemble of those models (see ``combine``)."""
        paths = model_paths(path)
        if len(paths) > 1:
            return cls.combine({str(p): cls.load(p, device, precision) for p in paths}, **kwargs)
        path = paths[0]
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        path = reading_path(path, device)
        if path.suffix == ".onnx":
            backend = OnnxBackend(path)
            return cls(backend, CTCCodec(backend.metadata["alphabet"]), int(backend.metadata["imgH"]), **kwargs)
        if path.suffix == ".ts":
            import warnings

            import torch

            extra = {"alphabet": "", "imgH": "", "widths": ""}
            with warnings.catch_warnings():  # TorchScript's deprecation: see ocr/export.py
                warnings.filterwarnings("ignore", message=r".*jit\.load` is deprecated.*", category=FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
            return cls(
                TorchBackend(module, device, precision, takes_widths=bool(extra["widths"])),
                CTCCodec(extra["alphabet"].decode()),
                int(extra["imgH"]),
                **kwargs,
            )
        from ocr.checkpoint import reader_from_checkpoint

        module, codec, imgH = reader_from_checkpoint(path)
        return cls(TorchBackend(module, device, precision), codec, imgH, **kwargs)

    @classmethod
    def from_model(cls, model, device: str | None = None, precision: str = "auto", **kwargs) -> "Recognizer":
        """From an ``OCRSystem`` in memory (e.g. right after training)."""
        return cls(TorchBackend(model, device, precision), model.codec, model.hparams.imgH, **kwargs)

    @classmethod
    def combine(cls, recognizers: dict[str, "Recognizer"], **kwargs) -> "Recognizer":
        """One recogniser reading with the models of ``recognizers`` (by name), which must
        share their alphabet and image height."""
        (first_name, first), *others = recognizers.items()
        for name, other in others:
            if (other.codec.alphabet, other.imgH) != (first.codec.alphabet, first.imgH):
                raise ValueError(
                    f"models read together must share alphabet and height: {name} has "
                    f"{other.codec.alphabet!r} at {other.imgH} px, "
                    f"{first_name} {first.codec.alphabet!r} at {first.imgH} px"
                )
        return cls([r.backend for r in recognizers.values()], first.codec, first.imgH, **kwargs)

    def prepare(self, image, name: str | None = None) -> np.ndarray:
        """One image as the model's input: uint8 grayscale, ``imgH`` rows."""
        if type(image).__module__.startswith("torch"):
            image = image.squeeze().cpu().numpy()
        if (
            isinstance(image, np.ndarray)
            and image.dtype == np.uint8
            and image.ndim == 2
            and image.shape[0] == self.imgH
        ):
            return image
        return read_image(image, self.imgH, self.max_width, name=name)

    def read_batch(self, pixels: np.ndarray, widths: Sequence[int]) -> list[Reading]:
        """Read a batch already padded (``pad_batch``): uint8 ``(B, 1, imgH, W)`` and the
        images' widths before padding (what the data loaders give)."""
        stretched = [stretch_batch(pixels, np.asarray(widths), scale) for scale in self.decoder.scales]
        views = [(backend.logits(wide, w), output_frames(w)) for backend in self.backends for wide, w in stretched]
        (logits, lengths), *others = views
        texts, confidences = self.decoder(logits, lengths, others)
        return [Reading(t, float(c)) for t, c in zip(texts, confidences)]

    def read_prepared(self, images: Sequence[np.ndarray]) -> list[Reading]:
        """Read images already prepared (see ``prepare``), in batches of similar width."""
        order = np.argsort([im.shape[1] for im in images], kind="stable")
        readings: list[Reading | None] = [None] * len(images)
        pipelined = self.decoder.method == "greedy" and isinstance(self.backend, TorchBackend)
        # Models of an ensemble may run on different devices (or ONNX): they share host batches.
        pad = self.backend.pad if len(self.backends) == 1 else pad_batch
        pending = None
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            pixels, widths = pad([images[i] for i in chosen]), np.array([images[i].shape[1] for i in chosen])
            if not pipelined:
                done = [(chosen, self.read_batch(pixels, widths))]
            else:  # launch this batch before turning the previous one into text
                launched = (chosen, self.backend.launch_greedy(pixels, widths))
                done = [(pending[0], self._texts(pending[1]))] if pending is not None else []
                pending = launched
            for indices, batch_readings in done:
                for i, reading in zip(indices, batch_readings):
                    readings[i] = reading
        if pending is not None:
            for i, reading in zip(pending[0], self._texts(pending[1])):
                readings[i] = reading
        return readings

    def _texts(self, launched) -> list[Reading]:
        indices, confidences = self.backend.finish(launched)
        return [Reading(t, float(c)) for t, c in zip(self.codec.decode_indices(indices), confidences)]

    def read(self, images: ImageLike | Iterable[ImageLike]) -> list[Reading]:
        """One image or an iterable of them (a 4-D tensor is a batch)."""
        if type(images).__module__.startswith("torch"):
            images = list(images) if images.dim() == 4 else [images]
        elif isinstance(images, (str, Path, bytes, Image.Image, np.ndarray)):
            images = [images]
        readings = self.read_prepared([self.prepare(image) for image in images])
        return self.read_turned(readings, images)

    @property
    def turns(self) -> bool:
        """Whether images are also read otherwise (``vertical`` and the ``views``):
        ``read_turned`` then needs their sources."""
        return self.vertical is not None or self.other_views

    @property
    def other_views(self) -> bool:
        """Whether doubtful images are also read in other views (``tilts``, ``level``,
        ``stretches``, ``trims``, ``invert``)."""
        return bool(self.tilts or self.level or self.stretches or self.trims or self.invert)

    def is_tall(self, image) -> bool:
        """Whether ``vertical`` asks for ``image`` (a source as ``read`` takes) to be
        read turned too."""
        if self.vertical is None or type(image).__module__.startswith("torch"):
            return False
        width, height = image_size(image)
        return width > 0 and height >= self.vertical * width

    def views(self, image, reading: Reading) -> list[np.ndarray]:
        """The prepared views of ``image`` to choose a reading from, upright first: a tall
        image turned a quarter clockwise and anticlockwise; one read with little
        confidence (tall or not) levelled at each of ``tilts`` and around its own angle (``level``),
        widened by each of ``stretches``, cut by each of ``trims`` and inverted
        (``invert``); else none."""
        if type(image).__module__.startswith("torch"):
            return []
        tall, doubtful = self.is_tall(image), self.other_views and reading.confidence < self.views_below
        if not (tall or doubtful):
            return []
        gray = to_gray(open_image(image))
        turned = [gray] + ([np.ascontiguousarray(np.rot90(gray, k)) for k in (-1, 1)] if tall else [])
        if doubtful:
            turned += [view for a in self.angles(gray) if (view := untilt(gray, a)) is not None]
            turned += [stretch(gray, factor) for factor in self.stretches]
            cuts = dict.fromkeys(round(f * len(gray)) for f in self.trims)  # rows off each side
            turned += [gray[cut : len(gray) - cut] for cut in cuts if cut]
            turned += [255 - gray] if self.invert else []
        return [to_model_input(view, self.imgH, self.max_width) for view in turned] if len(turned) > 1 else []

    def angles(self, gray: np.ndarray) -> list[float]:
        """The angles at which ``views`` levels ``gray``: ``tilts``, and ``level``'s
        around the angle its ink lies at (steep words too, up to 88 degrees); none within a
        degree of upright or of another, none from 90 degrees (quarter turns: ``vertical``)."""
        angles = list(self.tilts)
        if self.level:
            ink = text_angle(gray)
            angles += [ink + sign * d for d in self.level for sign in (1, -1)]
        kept = []
        for a in angles:
            if 1 <= abs(a) < 90 and all(abs(a - b) >= 1 for b in kept):
                kept.append(a)
        return kept

    def read_turned(self, readings: list[Reading], images: Sequence) -> list[Reading]:
        """``readings`` of ``images`` read upright, with the images that ``views`` turns
        read again: of each one's views, the one most likely the right way up is kept
        (see ``turn_scores``), the upright one on a tie; with a word prior (``lexicon``,
        ``dictionary``), only where the decoder is also surer of it than of the upright.
        Read greedily, the view kept takes the reading its scoring made (not read again)."""
        if not self.turns:
            return readings
        groups = [(i, views) for i, image in enumerate(images) if (views := self.views(image, readings[i]))]
        if not groups:
            return readings
        scores, view_readings = self.turn_scores([view for _, views in groups for view in views])
        readings, won, first = list(readings), [], 0  # the upright views are read already
        for i, views in groups:
            best = first + int(np.argmax(scores[first : first + len(views)]))  # the first of equals: upright
            if best > first and self.decoder.method == "greedy":  # the view's reading is the scores' own
                readings[i] = view_readings[best]
            elif best > first:
                won.append((i, views[best - first]))
            first += len(views)
        for (i, _), reading in zip(won, self.read_prepared([view for _, view in won])):
            # A word prior's confidence scores whole words, alike in any view: the upright
            # reading stays where it is surer (a greedy one counts blank frames: it cannot tell).
            if not self.decoder.uses_views or reading.confidence > readings[i].confidence:
                readings[i] = reading
        return readings

    def turn_scores(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Reading]]:
        """How likely each prepared image is the right way up: the mean log-probability of
        the best class over the frames whose best class is a letter (not the blank), by
        the first model (-inf where there is none; the usual confidence also counts blank
        frames, confident in any orientation), plus ``WORD_WEIGHT`` times the mean
        log-probability of its best-path reading's characters under ``vertical_words``'
        character model (``ocr.wordshape``): upside down, a word reads as confidently, but
        seldom as a word. With the scores, each image's best-path (greedy) reading."""
        order, scores = np.argsort([im.shape[1] for im in images], kind="stable"), np.full(len(images), -np.inf)
        texts, confidences = np.full(len(images), "", dtype=object), np.zeros(len(images))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            widths = np.array([images[i].shape[1] for i in chosen])
            logits = self.backend.logits(pad_batch([images[i] for i in chosen]), widths)
            indices, best, confidences[chosen] = best_frames(logits, output_frames(widths))
            letters = indices != BLANK
            count = letters.sum(axis=1)
            scores[chosen] = np.where(count > 0, (best * letters).sum(axis=1) / np.maximum(count, 1), -np.inf)
            texts[chosen] = self.codec.decode_indices(indices)
        if self.word_shape is not None:
            scores += WORD_WEIGHT * np.array([self.word_shape.log_prob(text) for text in texts])
        return scores, [Reading(text, float(c)) for text, c in zip(texts, confidences)]

    @functools.cached_property
    def word_shape(self) -> WordShape | None:
        """The character model of ``vertical_words`` (built when a tall image first comes)."""
        return WordShape.of_word_list(self.vertical_words, self.codec) if self.vertical_words else None
