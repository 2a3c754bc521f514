"""Fetching font families from an npm registry (a local one: tests use no network)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from ocr.data.fetch_fonts import fetch_family


def fake_registry(root, family: str, files: dict[str, bytes]) -> str:
    """A registry of one ``@expo-google-fonts`` package at ``file://root``."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tarball = root / f"{family}-1.0.0.tgz"
    tarball.write_bytes(archive.getvalue())
    meta = {"dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {"license": "OFL-1.1", "dist": {"tarball": tarball.as_uri()}}}}
    (root / "@expo-google-fonts").mkdir(exist_ok=True)
    (root / "@expo-google-fonts" / family).write_text(json.dumps(meta))
    return root.as_uri()


def test_a_family_is_fetched_flat_with_its_source_once(tmp_path):
    registry = fake_registry(
        tmp_path, "sample", {"package/Sample_400.ttf": b"regular", "package/../../Evil_700.ttf": b"bold", "package/README.md": b"x"}
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
