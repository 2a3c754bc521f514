"""Exporting a trained model for inference without this project's training stack.

Both formats take uint8 images ``(B, 1, imgH, W)`` (batch and width dynamic) and each
image's width before padding ``widths`` (int64, ``(B,)``), and return logits
``(B, T, classes)``, of which image b's own are the first ``widths[b] // 4 + 1`` frames
(the rest is padding: decode only an image's own frames). They carry what a reader needs:
the alphabet and ``imgH`` (ONNX metadata, TorchScript extra files). Preprocessing is
``ocr.data.images.read_image`` (grayscale, height imgH keeping the aspect ratio); a batch
is ``ocr.data.images.pad_batch``: each image padded on the right with its background
(the median of its last column) to the widest width + 27 columns, so that every image
reads as it reads alone. Decoding is CTC (class 0 blank, alphabet[i] = class i + 1).
"""

from __future__ import annotations

import itertools
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ocr.data.images import MAX_WIDTH, read_image
from ocr.models.crnn import PooledConv2d
from ocr.models.networks import UInt8Model


def metadata(model) -> dict[str, str]:
    return {
        "alphabet": model.codec.alphabet,
        "imgH": str(model.hparams.imgH),
        "input": "images: uint8 (batch, 1, imgH, width), grayscale, each padded right with its background "
        "to the widest + 27 columns; widths: int64 (batch,), each image's width before padding",
        "output": "logits (batch, frames, len(alphabet) + 1); CTC, class 0 = blank; "
        "image b's own frames are the first widths[b] // 4 + 1",
        "widths": "yes",
    }


def export_onnx(model, path: str | Path, opset: int = 17) -> Path:
    import onnx

    path = Path(path)
    wrapper = UInt8Model(model.model.float().eval()).eval()
    pooled = [m for m in wrapper.modules() if isinstance(m, PooledConv2d)]
    example = torch.full((2, 1, model.hparams.imgH, 96), 128, dtype=torch.uint8)
    widths = torch.tensor([69, 40])
    with warnings.catch_warnings():
        # The exporter warns about LSTMs exported at a batch size other than 1: the zero
        # states are sized from the input, so any batch size runs (tests check several).
        warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # the shape check in CRNN.forward
        for conv in pooled:  # the order onnxruntime fuses into the convolution
            conv.seed_order = True
        torch.onnx.export(
            wrapper,
            (example, widths),
            str(path),
            input_names=["images", "widths"],
            output_names=["logits"],
            dynamic_axes={
                "images": {0: "batch", 3: "width"},
                "widths": {0: "batch"},
                "logits": {0: "batch", 1: "frames"},
            },
            opset_version=opset,
            dynamo=False,
        )
        for conv in pooled:
            conv.seed_order = False
    proto = onnx.load(str(path))
    for key, value in metadata(model).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    return path


def export_onnx_int8(model, path: str | Path, calibration: Sequence[np.ndarray]) -> Path:
    """The ONNX export with its convolutions in int8 (onnxruntime's static quantisation:
    weights per output channel, each activation's range the 99.99th percentile of what it
    takes on ``calibration``, prepared images as ``ocr.data.images.read_image`` makes them).
    On a CPU with 8-bit dot products it reads faster than float32 at a small cost in
    accuracy (docs/reading.md); the LSTMs stay in float32."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise ValueError("int8 export needs calibration images: none given")
    # Percentiles are taken over batches of one shape: each image padded with its last
    # column, or cut, to five times its height; batches of 32 (a last smaller one left out).
    width = 5 * model.hparams.imgH
    images = np.stack(
        [np.pad(im, ((0, 0), (0, max(0, width - im.shape[1]))), mode="edge")[:, :width] for im in calibration]
    )
    widths = np.array([min(width, im.shape[1]) for im in calibration], np.int64)
    size = min(32, len(images))
    batches = [(images[i : i + size, None], widths[i : i + size]) for i in range(0, len(images) - size + 1, size)]

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch[0], "widths": batch[1]}

    path = Path(path)
    with tempfile.TemporaryDirectory() as folder:
        exported, prepared = Path(folder) / "float.onnx", Path(folder) / "prepared.onnx"
        quant_pre_process(str(export_onnx(model, exported)), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(path),
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.99},
        )
    return path


def calibration_images(model, inputs, count: int, cache_dir: str | Path) -> list[np.ndarray]:
    """Up to ``count`` images to calibrate an int8 export on, prepared for ``model``: of
    ``inputs`` (image files, folders, globs or ``.txt`` lists, as ``predict.py`` takes), or,
    when None, renders of the test set of the data the model was trained on."""
    imgH = model.hparams.imgH
    if inputs is not None:
        from ocr.prediction import expand_inputs

        return [read_image(path, imgH, MAX_WIDTH) for path in expand_inputs(inputs)[:count]]
    if not model.hparams.data:
        raise ValueError("the checkpoint holds no data config to render calibration images from: calibration=DIR")
    from ocr.data.datamodule import datamodule_from_checkpoint

    overrides = {"alphabet": model.codec.alphabet, "imgH": imgH, "num_workers": 0, "cache_dir": str(cache_dir)}
    datamodule = datamodule_from_checkpoint(model.hparams.data, overrides)
    datamodule.prepare_data(splits=("test",))
    datamodule.setup("test")
    images = (dataset[i][1] for dataset in datamodule.test_sets.values() for i in range(len(dataset)))
    return [image.reshape(imgH, -1) for image in itertools.islice(images, count) if image is not None]


def export_torchscript(model, path: str | Path) -> Path:
    path = Path(path)
    with warnings.catch_warnings():
        # PyTorch now deprecates TorchScript for torch.export; its files still load
        # and read (docs/reading.md#exports says so): the warning is not the user's to act on.
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated.*", category=FutureWarning)
        scripted = torch.jit.script(UInt8Model(model.model.float().eval()).eval())
        torch.jit.save(scripted, str(path), _extra_files={k: v.encode() for k, v in metadata(model).items()})
    return path


def export(cfg) -> Path:
    """What ``python export.py`` does: the checkpoint ``cfg.ckpt_path`` (a path or a shipped
    model's name; a list: the average of their weights, ``ocr.checkpoint.average_checkpoints``)
    as ONNX (float32, or int8 convolutions), TorchScript or a float16 checkpoint; returns the
    file written."""
    from ocr.checkpoint import average_checkpoints, model_from_checkpoint, slim_checkpoint
    from ocr.weights import model_paths

    def int8(source, out):
        model = model_from_checkpoint(source)
        images = calibration_images(model, cfg.calibration, cfg.calibration_count, cfg.paths.cache_dir)
        return export_onnx_int8(model, out, images)

    writers = {
        "onnx": (lambda source, out: export_onnx(model_from_checkpoint(source), out), ".onnx"),
        "onnx_int8": (int8, ".int8.onnx"),
        "torchscript": (lambda source, out: export_torchscript(model_from_checkpoint(source), out), ".ts"),
        "fp16": (slim_checkpoint, ".fp16.ckpt"),
    }
    if cfg.format not in writers:
        raise ValueError(f"format must be one of {sorted(writers)}, got {cfg.format!r}")
    write, suffix = writers[cfg.format]
    sources = model_paths(cfg.ckpt_path)
    if not isinstance(cfg.ckpt_path, str) and not cfg.output:
        raise ValueError("ckpt_path lists checkpoints to average: name the file to write, output=FILE")
    output = Path(cfg.output or Path(str(cfg.ckpt_path)).with_suffix(suffix))  # a shipped name: here
    if output.resolve() in {source.resolve() for source in sources}:
        raise ValueError(f"output={output} would overwrite the checkpoint it is exported from")
    if len(sources) == 1:
        return write(sources[0], output)
    with tempfile.TemporaryDirectory() as folder:
        return write(average_checkpoints(sources, Path(folder) / "average.ckpt"), output)
