"""Fetching font families from an npm registry and photographs from Debian packages (local
stand-ins: tests use no network)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from ocr.data import fetch
from ocr.data.fetch import fetch_family


def tar_bytes(files: dict[str, bytes], mode: str) -> bytes:
    """A tar archive (``mode``: ``w:gz``, ``w:xz``) holding ``files``."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


def fake_registry(root, family: str, files: dict[str, bytes]) -> str:
    """A registry of one ``@expo-google-fonts`` package at ``file://root``."""
    tarball = root / f"{family}-1.0.0.tgz"
    tarball.write_bytes(tar_bytes(files, "w:gz"))
    meta = {
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"license": "OFL-1.1", "dist": {"tarball": tarball.as_uri()}}},
    }
    (root / "@expo-google-fonts").mkdir(exist_ok=True)
    (root / "@expo-google-fonts" / family).write_text(json.dumps(meta))
    return root.as_uri()


def test_a_family_is_fetched_flat_with_its_source_once(tmp_path):
    registry = fake_registry(
        tmp_path,
        "sample",
        {"package/Sample_400.ttf": b"regular", "package/../../Evil_700.ttf": b"bold", "package/README.md": b"x"},
    )
    into = tmp_path / "fonts"
    folder = fetch_family("sample", into, registry)
    assert sorted(p.name for p in folder.iterdir()) == ["Evil_700.ttf", "SOURCE.txt", "Sample_400.ttf"]
    assert "licence: OFL-1.1" in (folder / "SOURCE.txt").read_text() and not (tmp_path / "Evil_700.ttf").exists()
    (tmp_path / "sample-1.0.0.tgz").unlink()  # fetched already: the registry is not asked again
    assert fetch_family("sample", into, registry) == folder


def test_a_package_without_fonts_is_refused_and_leaves_no_family(tmp_path):
    registry = fake_registry(tmp_path, "empty", {"package/README.md": b"x"})
    with pytest.raises(ValueError, match="holds no .ttf"):
        fetch_family("empty", tmp_path / "fonts", registry)
    assert not (tmp_path / "fonts" / "empty").exists()


def fake_deb(files: dict[str, bytes]) -> bytes:
    """A Debian package (an ar archive) whose data.tar.xz holds ``files``."""
    members = [("debian-binary", b"2.0\n"), ("data.tar.xz", tar_bytes(files, "w:xz"))]
    out = b"!<arch>\n"
    for name, content in members:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode()
        out += header + content + (b"\n" if len(content) % 2 else b"")
    return out


def test_wallpapers_come_one_size_each_with_the_package_licence(tmp_path):
    from PIL import Image

    def jpeg(width: int, height: int) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (90, 120, 30)).save(buffer, format="JPEG")
        return buffer.getvalue()

    deb = fake_deb(
        {
            "./usr/share/wallpapers/Kite/contents/images/1920x1080.jpg": jpeg(1920, 1080),
            "./usr/share/wallpapers/Kite/contents/images/640x480.jpg": jpeg(640, 480),
            "./usr/share/wallpapers/Kite/contents/screenshot.jpg": jpeg(400, 250),
            "./usr/share/backgrounds/nature/Dune.jpg": jpeg(300, 200),
            "./usr/share/backgrounds/abstract/Elephants_3840x2160.jpg": jpeg(3000, 1700),
            "./usr/share/backgrounds/abstract/Elephants.jpg": jpeg(1200, 700),
            "./usr/share/doc/fake-wallpapers/copyright": b"License: GPL-2+\n",
        }
    )
    pool = tmp_path / "pool/main/f/fake-wallpapers"
    pool.mkdir(parents=True)
    (pool / "fake-wallpapers_1.0-1_all.deb").write_bytes(deb)
    fetch.PACKAGES["fake-wallpapers"] = "1.0-1"
    try:
        folder = fetch.fetch_package("fake-wallpapers", tmp_path / "photos", tmp_path.as_uri())
    finally:
        del fetch.PACKAGES["fake-wallpapers"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "Kite.jpg",
        "abstract-Elephants.jpg",
        "copyright",
        "nature-Dune.jpg",
    ]
    assert (folder / "copyright").read_text() == "License: GPL-2+\n"
    with Image.open(folder / "Kite.jpg") as kite, Image.open(folder / "abstract-Elephants.jpg") as elephants:
        assert kite.size == (1820, 1024) and min(elephants.size) == 1024  # the largest size, shrunk
    with pytest.raises(ValueError, match="not a Debian package"):
        fetch.deb_data(b"PK\x03\x04")


def test_photos_fetches_every_package_unless_named_and_names_an_unknown_one(tmp_path, monkeypatch, capsys):
    asked = []

    def fake_fetch(name, into):
        asked.append(name)
        (into / name).mkdir(parents=True)
        return into / name

    monkeypatch.setattr(fetch, "fetch_package", fake_fetch)
    fetch.main(["photos", "--into", str(tmp_path / "all")])  # what `make photos` runs
    assert asked == list(fetch.PACKAGES)
    asked.clear()
    fetch.main(["photos", "mate-backgrounds", "--into", str(tmp_path / "one")])
    assert asked == ["mate-backgrounds"]
    with pytest.raises(SystemExit):
        fetch.main(["photos", "kde-wallpapers"])
    assert "kde-wallpapers" in capsys.readouterr().err
