"""Fetch Google Fonts families from the npm registry into a folder of fonts, once:

    python -m ocr.data.fetch_fonts noto-sans-devanagari hind [--into data/fonts]

The ``@expo-google-fonts/<family>`` packages carry each family's TTF files under the SIL
Open Font License (OFL-1.1). Each family lands in ``<into>/<family>/``: its ``.ttf`` files
and ``SOURCE.txt`` (package, version, licence, address), which a model card can cite. A
family already there is not fetched again. Training never fetches: configs name these
folders in ``data.fonts`` and a missing one is an error that says this command.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
SCOPE = "@expo-google-fonts"


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
    partial = into / f".{family}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    for member in fonts:  # flattened: no path from the archive is trusted
        (partial / Path(member.name).name).write_bytes(archive.extractfile(member).read())
    source = (
        f"package: {SCOPE}/{family}@{version}\nlicence: {meta.get('license', 'see the package')}\n"
        f"tarball: {meta['dist']['tarball']}\nfiles: {len(fonts)}\n"
    )
    (partial / "SOURCE.txt").write_text(source)
    partial.rename(target)  # whole or absent
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("families", nargs="+", help="npm package names without the scope, e.g. noto-sans-devanagari")
    parser.add_argument("--into", type=Path, default=Path("data/fonts"), help="the folder of font families")
    args = parser.parse_args(argv)
    for family in args.families:
        try:
            folder = fetch_family(family, args.into)
        except Exception as err:  # say which family failed, keep those fetched
            sys.exit(f"{SCOPE}/{family}: {type(err).__name__}: {err}")
        print(f"{folder}: {len(list(folder.glob('*.ttf')))} fonts")


if __name__ == "__main__":
    main()
