"""The networks a model may be built with, by name: checkpoints name them, never a class
path (nothing read from a file becomes code)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ocr.models.crnn import CRNN, normalize
from ocr.text import alphabet_difference

NETWORKS: dict[str, type[nn.Module]] = {"crnn": CRNN}
# The hyperparameters that give a network its shape (with the alphabet).
ARCHITECTURE = ("net", "imgH", "nChannels", "nHidden", "leakyRelu", "channels", "headNorm")
# What checkpoints written before a key of ARCHITECTURE existed were built with.
EARLIER = {"headNorm": False}


def network(net: Callable[..., nn.Module] | str) -> tuple[str, Callable[..., nn.Module]]:
    """The registered name and the class of ``net``: a name, a class, or a partial of one
    without arguments (the ``model.net`` config node: its sizes are the model's keys). A
    network of the user's own is refused here, when a run starts, rather than when its
    checkpoint cannot be read: add it to ``NETWORKS``."""
    if isinstance(net, str):
        if net not in NETWORKS:
            raise ValueError(f"model.net={net!r} is not one of the networks {sorted(NETWORKS)}")
        return net, NETWORKS[net]
    if getattr(net, "args", None) or getattr(net, "keywords", None):
        raise ValueError("model.net takes no arguments: its sizes are model.imgH, model.nHidden, model.channels, ...")
    cls = getattr(net, "func", net)
    for name, registered in NETWORKS.items():
        if registered is cls:
            return name, cls
    raise ValueError(f"model.net: {cls!r} is not a registered network ({sorted(NETWORKS)}); add it to NETWORKS")


def check_same_model(theirs: dict, ours: dict, doing: str) -> None:
    """Raise a ValueError saying what differs between a checkpoint's hyperparameters and
    this model's, where its weights would not fit or would mean other characters."""
    if theirs.get("alphabet", ours["alphabet"]) != ours["alphabet"]:
        raise ValueError(f"{doing}: {alphabet_difference(theirs['alphabet'], ours['alphabet'])}")
    theirs = {**EARLIER, **theirs}
    differ = [f"{k}={theirs[k]!r} (config: {ours[k]!r})" for k in ARCHITECTURE if theirs.get(k, ours[k]) != ours[k]]
    if differ:
        raise ValueError(f"{doing}: the checkpoint's model has {', '.join(differ)}")


class UInt8Model(nn.Module):
    """A network with its input normalisation, as inference runs it: uint8 images
    ``(B, C, imgH, W)`` and their widths before padding ``(B,)`` in, logits out."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        return self.net(normalize(images), widths)
