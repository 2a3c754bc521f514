"""Exporting a trained model for inference without this project's training stack.

Both formats take uint8 images ``(B, 1, imgH, W)`` (batch and width dynamic) and return
logits ``(B, T, classes)``; they carry what a reader needs: the alphabet and ``imgH``
(ONNX metadata, TorchScript extra files). Preprocessing is ``ocr.data.images.read_image``
(grayscale, height imgH keeping the aspect ratio), padding on the right with the
background; decoding is CTC (class 0 blank, alphabet[i] = class i + 1).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ocr.data.batching import normalize


class UInt8Model(nn.Module):
    """The CRNN with its input normalisation: uint8 images in, logits out."""

    def __init__(self, crnn: nn.Module):
        super().__init__()
        self.crnn = crnn

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.crnn(normalize(images))


def metadata(model) -> dict[str, str]:
    return {
        "alphabet": model.codec.alphabet,
        "imgH": str(model.hparams.imgH),
        "input": "uint8 (batch, 1, imgH, width), grayscale, padded right with background",
        "output": "logits (batch, frames, len(alphabet) + 1); CTC, class 0 = blank",
    }


def export_onnx(model, path: str | Path, opset: int = 17) -> Path:
    import onnx

    path = Path(path)
    wrapper = UInt8Model(model.model.float().eval()).eval()
    example = torch.full((2, 1, model.hparams.imgH, 96), 128, dtype=torch.uint8)
    torch.onnx.export(
        wrapper,
        (example,),
        str(path),
        input_names=["images"],
        output_names=["logits"],
        dynamic_axes={"images": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "frames"}},
        opset_version=opset,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    for key, value in metadata(model).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    return path


def export_torchscript(model, path: str | Path) -> Path:
    path = Path(path)
    scripted = torch.jit.script(UInt8Model(model.model.float().eval()).eval())
    torch.jit.save(scripted, str(path), _extra_files={k: v.encode() for k, v in metadata(model).items()})
    return path
