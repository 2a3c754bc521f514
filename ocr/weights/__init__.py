"""Models shipped with the package, used when no checkpoint is named.

``english.ckpt``: a float16 checkpoint of the ``experiment=english`` recipe (see
``README.md`` in this folder for how it was trained and how it scores).
"""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).with_name("english.ckpt")


def model_path(path: str | Path | None) -> Path:
    """``path``, or the shipped English model when it is None."""
    if path is not None:
        return Path(path)
    if not DEFAULT_MODEL.is_file():
        raise FileNotFoundError(f"no checkpoint named and the shipped model {DEFAULT_MODEL} is missing (ckpt_path=...)")
    return DEFAULT_MODEL
