"""Models shipped with the package, used when no checkpoint is named.

``english.ckpt``: float16 weights trained from scratch on words rendered on photographs
(``experiment=english_fonts``'s look); ``english_real.ckpt``: the averaged weights of runs
that trained ``english`` further on renders and real word crops (``experiment=english_mix``),
for research use. Each ships with its ONNX export, read on a CPU (``reading_path``).
``README.md`` in this folder says how each was trained and how they score.
"""

import functools
import logging
from pathlib import Path

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).parent
DEFAULT_MODEL = WEIGHTS / "english.ckpt"
# Shipped models trained on data whose terms restrict their use, and what they say.
TERMS = {
    "english_real": "trained on research-use data (IIIT5K, SVT and ICDAR 2015 word crops, BSDS500 photos): "
    "for research use only"
}


def model_path(path: str | Path | None) -> Path:
    """``path``; the file of a shipped model for its bare name (``english``); or the
    default shipped model when ``path`` is None."""
    if path is None:
        if not DEFAULT_MODEL.is_file():
            raise FileNotFoundError(
                f"no checkpoint named and the shipped model {DEFAULT_MODEL} is missing (ckpt_path=...)"
            )
        return DEFAULT_MODEL
    path, shipped = Path(path), WEIGHTS / f"{path}.ckpt"
    if not path.suffix and not path.exists() and shipped.is_file():
        if path.name in TERMS:
            _say_terms(path.name)
        return shipped
    return path


@functools.cache
def _say_terms(name: str) -> None:
    log.warning("%s: %s", name, TERMS[name])


def model_paths(paths) -> list[Path]:
    """``paths`` (one path, None, or a list of paths: an ensemble) as a list of model files."""
    if paths is None or isinstance(paths, (str, Path)):
        return [model_path(paths)]
    if not len(paths):
        raise ValueError("ckpt_path=[] names no model")
    return [model_path(p) for p in paths]


def reading_path(path: Path, device: str | None = None) -> Path:
    """The file to read with for a model file: a shipped model read on a CPU (``device``
    ``cpu``, or None on a machine without an NVIDIA driver) runs from the ONNX export that
    ships beside it, if any: the same network in float32 with onnxruntime, without
    importing torch (predict.py reads 2,000 crops 1.7x faster on 2 cores, docs/results.md).
    Any other file is read as it is."""
    fast = path.with_suffix(".onnx")
    if path.suffix != ".ckpt" or path.parent.resolve() != WEIGHTS.resolve() or not fast.is_file():
        return path
    if device not in (None, "cpu") or (device is None and Path("/proc/driver/nvidia/version").exists()):
        return path  # a GPU: PyTorch reads the checkpoint there
    return fast


def check_models(paths) -> list[Path]:
    """``model_paths(paths)``, each an existing file; else a FileNotFoundError naming it
    and the shipped models (no torch needed: it runs before the heavy imports)."""
    found = model_paths(paths)
    for path in found:
        if not path.is_file():
            shipped = ", ".join(sorted(p.stem for p in WEIGHTS.glob("*.ckpt")))
            raise FileNotFoundError(f"ckpt_path: no such model file {path} (shipped models, by name: {shipped})")
    return found
