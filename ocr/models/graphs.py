"""CUDA graphs of a module's training forward and backward, one pair per batch shape.

A small batch on a fast GPU is bound by the host, not the GPU: the GPU computes a CRNN
training step in a fraction of the time the host spends issuing its few hundred kernels
(docs/results.md has the figures). A CUDA graph replays
all the kernels of the forward in one launch and those of the backward in another
(``torch.cuda.make_graphed_callables``); the loss, which depends on the labels' lengths,
the gradient clipping and the optimiser stay eager around them.

Each batch shape is captured once (a few warm-up passes and the capture) and keeps its
activations in memory of its own, so graphs are used for batches of at most ``max_batch``
images, and new shapes are captured only while the graphs hold less than
``memory_fraction`` of the GPU's memory; the rest runs eagerly.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


class _Shape(nn.Module):
    """The module under a name of its own: ``make_graphed_callables`` replaces the
    forward of the module it is given, and each shape needs its own."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        return self.module(x, widths)


class TrainingGraphs:
    """Calls ``module`` on training batches through CUDA graphs where it can.

    ``__call__`` is the module's forward (autograd included) for batches that
    ``accepts``; graph capture runs warm-up passes, whose updates of the module's buffers
    (batch norm statistics) are undone, so a step computes what the eager step would.
    A capture that fails is reported once, and training goes on eagerly.
    """

    def __init__(self, module: nn.Module, max_batch: int = 256, memory_fraction: float = 0.25):
        self.module, self.max_batch, self.memory_fraction = module, max_batch, memory_fraction
        self.graphs: dict[tuple, nn.Module] = {}
        self.memory = 0  # bytes the graphs hold
        self.failed = False

    def accepts(self, images: torch.Tensor) -> bool:
        return (
            not self.failed
            and images.is_cuda
            and self.module.training
            and torch.is_grad_enabled()
            and images.shape[0] <= self.max_batch
            and (self._key(images) in self.graphs or self.memory < self._memory_limit(images.device))
        )

    def _memory_limit(self, device: torch.device) -> float:
        return self.memory_fraction * torch.cuda.get_device_properties(device).total_memory

    @staticmethod
    def _key(images: torch.Tensor) -> tuple:
        autocast = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
        return tuple(images.shape), images.stride(), images.dtype, autocast

    def __call__(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        key = self._key(images)
        # Autocast, if on, without its cache of cast weights (graphs replay the casts).
        enabled, dtype = key[-1]
        with torch.autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=False):
            graphed = self.graphs.get(key)
            if graphed is None:
                graphed = self._capture(key, images, widths)
            return graphed(images, widths) if graphed is not None else self.module(images, widths)

    def _capture(self, key: tuple, images: torch.Tensor, widths: torch.Tensor) -> nn.Module | None:
        buffers = [b.detach().clone() for b in self.module.buffers()]
        allocated = _allocated(images.device)
        try:
            graphed = torch.cuda.make_graphed_callables(_Shape(self.module), (images, widths), num_warmup_iters=3)
        except Exception as err:  # an optimisation: its failure must not end the run
            self.failed = True
            log.warning(
                "CUDA graph capture failed for a batch of shape %s (%s: %s); training goes on eagerly",
                key[0],
                type(err).__name__,
                err,
            )
            graphed = None
        finally:
            with torch.no_grad():
                for buffer, saved in zip(self.module.buffers(), buffers):
                    buffer.copy_(saved)
        if graphed is not None:
            self.graphs[key] = graphed
            self.memory += max(0, _allocated(images.device) - allocated)
        return graphed

    def clear(self) -> None:
        """Let go of the graphs and the memory they hold."""
        self.graphs.clear()
        self.memory = 0


def _allocated(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
