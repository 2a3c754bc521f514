"""Fonts and photographs a user fetches once, never at run time (configs name the folders
they land in; a missing one is an error that says the command):

    python -m ocr.data.fetch fonts noto-sans-devanagari hind [--into data/fonts]   # make fonts
    python -m ocr.data.fetch photos [--into data/photos/debian]                    # make photos

``fonts``: Google Fonts families from the npm registry, whose ``@expo-google-fonts/<family>``
packages carry each family's TTF files under the SIL Open Font License (OFL-1.1). Each lands
in ``<into>/<family>/``: its ``.ttf`` files and ``SOURCE.txt`` (package, version, licence,
address), which a model card can cite.

``photos``: photographs whose terms allow sharing what is trained on them, the wallpapers of
three Debian packages (GPL-2+ and CC BY-SA, each file's terms in the package's
``copyright``), read from the Debian archive over HTTPS (no apt needed). Each package lands
in ``<into>/<package>/``: its images (one size of each, at most ``SIDE`` pixels on the
shorter side, JPEG) and ``copyright``, the package's licence file. Research photo sets
(BSDS500 and the like) work the same way but their terms do not let a shipped model be
trained on them.

Whatever is fetched lands whole or not at all, and is not fetched again.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

REGISTRY = "https://registry.npmjs.org"
SCOPE = "@expo-google-fonts"
MIRROR = "https://deb.debian.org/debian"
# Debian 12's packages and versions, pinned: the same photos for everyone.
PACKAGES = {"plasma-workspace-wallpapers": "5.27.5-2", "mate-backgrounds": "1.26.0-1", "gnome-backgrounds": "43.1-1"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SIDE = 1024
SIZE_SUFFIX = re.compile(r"_\d+x\d+$")


@contextlib.contextmanager
def whole_folder(target: Path) -> Iterator[Path]:
    """A folder to fill that becomes ``target`` only once filled (a failure leaves no
    ``target``)."""
    partial = target.parent / f".{target.name}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    yield partial
    partial.rename(target)


def fetch_family(family: str, into: Path, registry: str = REGISTRY) -> Path:
    """``into/family``, with the family's TTF files from its npm package's newest version."""
    target = into / family
    if (target / "SOURCE.txt").is_file():
        return target
    with urllib.request.urlopen(f"{registry}/{SCOPE}/{family}", timeout=60) as response:
        package = json.load(response)
    version = package["dist-tags"]["latest"]
    meta = package["versions"][version]
    with urllib.request.urlopen(meta["dist"]["tarball"], timeout=300) as response:
        archive = tarfile.open(fileobj=io.BytesIO(response.read()), mode="r:gz")
    fonts = [m for m in archive.getmembers() if m.isfile() and m.name.lower().endswith(".ttf")]
    if not fonts:
        raise ValueError(f"{SCOPE}/{family}@{version} holds no .ttf file")
    with whole_folder(target) as folder:
        for member in fonts:  # flattened: no path from the archive is trusted
            (folder / Path(member.name).name).write_bytes(archive.extractfile(member).read())
        source = (
            f"package: {SCOPE}/{family}@{version}\nlicence: {meta.get('license', 'see the package')}\n"
            f"tarball: {meta['dist']['tarball']}\nfiles: {len(fonts)}\n"
        )
        (folder / "SOURCE.txt").write_text(source)
    return target


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
    licence = next((m for m in archive.getmembers() if m.name.endswith(f"/doc/{package}/copyright")), None)
    if licence is None:
        raise ValueError(f"{package}: no copyright file in the package")
    with whole_folder(target) as folder:
        for key, member in sorted(wallpapers(archive).items()):
            with Image.open(archive.extractfile(member)) as image:
                image = image.convert("RGB")
                image.thumbnail((SIDE * image.width // min(image.size), SIDE * image.height // min(image.size)))
                image.save(folder / f"{key}.jpg", quality=90)
        (folder / "copyright").write_bytes(archive.extractfile(licence).read())
    return target


def package(name: str) -> str:
    """``name`` if it is one of ``PACKAGES``; else the error argparse reports."""
    if name not in PACKAGES:
        raise argparse.ArgumentTypeError(f"unknown package {name}: choose from {', '.join(PACKAGES)}")
    return name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="kind", required=True)
    fonts = kinds.add_parser("fonts", help="Google Fonts families from the npm registry")
    fonts.add_argument("names", nargs="+", help="npm package names without the scope, e.g. noto-sans-devanagari")
    fonts.add_argument("--into", type=Path, default=Path("data/fonts"), help="the folder of font families")
    photos = kinds.add_parser("photos", help="the wallpapers of Debian packages")
    # Checked by type, not choices: Python < 3.12 checks an omitted "*" list against choices whole.
    photos.add_argument(
        "names",
        nargs="*",
        type=package,
        default=list(PACKAGES),
        metavar="PACKAGE",
        help=f"of {', '.join(PACKAGES)} (default: all)",
    )
    photos.add_argument("--into", type=Path, default=Path("data/photos/debian"), help="the folder of photos")
    args = parser.parse_args(argv)
    fetch, suffix = (fetch_family, "ttf") if args.kind == "fonts" else (fetch_package, "jpg")
    for name in args.names:
        try:
            folder = fetch(name, args.into)
        except Exception as err:  # say which one failed, keep those fetched
            sys.exit(f"{name}: {type(err).__name__}: {err}")
        print(f"{folder}: {len(list(folder.glob(f'*.{suffix}')))} files")


if __name__ == "__main__":
    main()
