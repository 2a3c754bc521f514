"""An experiment's fonts for a GPU machine that has none of them (docs/gpu.md).

    python benchmarks/gpu_fonts.py pack OUT experiment=NAME [OVERRIDES] [--trdg DIR]   # here (gpu_bundle.sh)
    python benchmarks/gpu_fonts.py list OUT experiment=NAME [OVERRIDES]                # there (gpu_session.sh)

``pack`` copies the fonts a training config draws (the faithful fonts of each collection of
its ``data.fonts`` and, with ``data.capitals``, those that draw lower case as capitals),
cut down to printable ASCII by fontTools' subsetter (the same outlines and every name, so
``data.font_draw=family`` groups them as before), into a folder of OUT per collection:
``OUT/<name>`` for a package, ``OUT/<path>`` for a folder (below the repository: relative
to it; elsewhere: the absolute path without its first slash). The ``font_*`` packages
travel as wheels and are left out; ``trdg``'s go to ``--trdg`` (the bundled trdg's own
font folder). ``list`` prints the ``data.fonts`` override that reads each collection from
OUT where OUT holds it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr.config import compose_config  # noqa: E402
from ocr.data.fonts import capitals_fonts, faithful_fonts, font_folder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Every character of the English recipes' alphabet (conf/charset/printable.yaml) and the space.
FIRST, LAST = 0x20, 0x7E


def config_fonts(overrides: list[str]) -> tuple[list[str], str, bool]:
    """The training config's ``data.fonts``, alphabet and ``data.capitals``, resolved as a run sees them."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config("train", overrides, Path(tmp) / "run")
        return list(cfg.data.fonts), cfg.model.alphabet, bool(cfg.data.get("capitals"))


def key(name: str) -> Path:
    """Where collection ``name`` lies inside the bundle's font folder."""
    path = Path(name)
    if not path.is_absolute():
        return path
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.relative_to(path.anchor)


def subset(source: Path, target: Path) -> None:
    from fontTools import subset as fonttools

    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix.lower() == ".pfb":  # Type 1: small already, and not for the subsetter
        shutil.copy(source, target)
        return
    options = [f"--unicodes=U+{FIRST:04X}-{LAST:04X}", "--notdef-outline", "--layout-features=*", "--name-IDs=*"]
    fonttools.main([str(source), *options, f"--output-file={target}"])


def pack(out: Path, overrides: list[str], trdg: Path | None) -> None:
    fonts, alphabet, capitals = config_fonts(overrides)
    beyond = "".join(sorted({c for c in alphabet if not FIRST <= ord(c) <= LAST}))
    if beyond:
        raise SystemExit(
            f"the alphabet holds characters beyond printable ASCII ({beyond[:20]!r}): cut fonts would lack them"
        )
    for name in fonts:
        if name.startswith("font_") or (name == "trdg" and trdg is None):
            continue
        folder = font_folder(name)
        if folder is None:
            raise SystemExit(f"font collection {name!r} of data.fonts not found here")
        drawn = faithful_fonts(alphabet, str(folder)) + (capitals_fonts(alphabet, str(folder)) if capitals else ())
        target = trdg if name == "trdg" else out / key(name)
        for path in map(Path, drawn):  # the two lists are disjoint
            subset(path, target / path.relative_to(folder))
        print(f"{name}: {len(drawn)} fonts -> {target}")


def listed(out: Path, overrides: list[str]) -> str:
    fonts, _, _ = config_fonts(overrides)
    bundled = [str((out / key(name)).resolve()) if (out / key(name)).is_dir() else name for name in fonts]
    return "data.fonts=[" + ",".join(bundled) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["pack", "list"])
    parser.add_argument("out", type=Path, help="the bundle's font folder, e.g. .gpu/fonts")
    parser.add_argument("overrides", nargs="*", help="of the training config, e.g. experiment=english_fonts")
    parser.add_argument("--trdg", type=Path, default=None, help="where trdg's Latin fonts go (pack)")
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.out, args.overrides, args.trdg)
    else:
        print(listed(args.out, args.overrides))


if __name__ == "__main__":
    main()
