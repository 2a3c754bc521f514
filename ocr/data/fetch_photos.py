"""Fetch photographs whose terms allow sharing what is trained on them: the wallpapers of
three Debian packages (GPL-2+ and CC BY-SA, each file's terms in the package's
``copyright``), once, into a folder for ``data.style.photos``:

    python -m ocr.data.fetch_photos [--into data/photos/debian]     # or: make photos

Each package lands in ``<into>/<package>/``: its images (one size of each, at most
``SIDE`` pixels on the shorter side, JPEG) and ``copyright``, the package's licence file,
which a model card cites. The packages are read from the Debian archive over HTTPS (no
apt needed). Research photo sets (BSDS500 and the like) work the same way but their
terms do not let a shipped model be trained on them.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

from PIL import Image

MIRROR = "https://deb.debian.org/debian"
# Debian 12's packages and versions, pinned: the same photos for everyone.
PACKAGES = {"plasma-workspace-wallpapers": "5.27.5-2", "mate-backgrounds": "1.26.0-1", "gnome-backgrounds": "43.1-1"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SIDE = 1024
SIZE_SUFFIX = re.compile(r"_\d+x\d+$")


def deb_data(deb: bytes) -> tarfile.TarFile:
    """The ``data.tar.*`` of a Debian package (an ``ar`` archive)."""
    if not deb.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package (no ar header)")
    offset = 8
    while offset + 60 <= len(deb):
        name, size = deb[offset : offset + 16].decode().strip().rstrip("/"), int(deb[offset + 48 : offset + 58])
        start = offset + 60
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(deb[start : start + size]), mode="r:*")
        offset = start + size + size % 2  # members are 2-byte aligned
    raise ValueError("a Debian package without data.tar")


def wallpapers(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """The images of a package, one per wallpaper: of the sizes of one picture (files of
    one folder, or names that differ by a ``_WIDTHxHEIGHT`` suffix), the largest file."""
    chosen: dict[str, tarfile.TarInfo] = {}
    for member in archive.getmembers():
        path = Path(member.name)
        if (
            not member.isfile()
            or path.suffix.lower() not in IMAGE_SUFFIXES
            or "/doc/" in member.name
            or "screenshot" in path.stem
        ):
            continue
        if re.fullmatch(r"\d+x\d+", path.stem):  # plasma: <name>/contents/images/1920x1080.jpg
            key = str(path.parent.parent.parent.name)
        else:
            key = f"{path.parent.name}-{SIZE_SUFFIX.sub('', path.stem)}"
        if key not in chosen or member.size > chosen[key].size:
            chosen[key] = member
    return chosen


def fetch_package(package: str, into: Path, mirror: str = MIRROR) -> Path:
    """``into/package``: the package's wallpapers and its ``copyright``."""
    target = into / package
    if (target / "copyright").is_file():
        return target
    deb = f"pool/main/{package[0]}/{package}/{package}_{PACKAGES[package]}_all.deb"
    with urllib.request.urlopen(f"{mirror}/{deb}", timeout=600) as response:
        archive = deb_data(response.read())
    partial = into / f".{package}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    for key, member in sorted(wallpapers(archive).items()):
        with Image.open(archive.extractfile(member)) as image:
            image = image.convert("RGB")
            image.thumbnail((SIDE * image.width // min(image.size), SIDE * image.height // min(image.size)))
            image.save(partial / f"{key}.jpg", quality=90)
    licence = next((m for m in archive.getmembers() if m.name.endswith(f"/doc/{package}/copyright")), None)
    if licence is None:
        raise ValueError(f"{package}: no copyright file in the package")
    (partial / "copyright").write_bytes(archive.extractfile(licence).read())
    partial.rename(target)  # whole or absent
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--into", type=Path, default=Path("data/photos/debian"), help="the folder of photos")
    parser.add_argument("--packages", nargs="*", default=list(PACKAGES), choices=list(PACKAGES))
    args = parser.parse_args(argv)
    for package in args.packages:
        try:
            folder = fetch_package(package, args.into)
        except Exception as err:  # say which package failed, keep those fetched
            sys.exit(f"{package}: {type(err).__name__}: {err}")
        print(f"{folder}: {len(list(folder.glob('*.jpg')))} images")


if __name__ == "__main__":
    main()
