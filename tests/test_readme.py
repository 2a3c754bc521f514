"""The README's first commands, run as a new user would: reading a photo with the shipped
models, the Python API, evaluating a labelled folder. Each command is taken from the
README itself, with its example paths replaced by files made here."""

import re
import shlex

import numpy as np
import pytest
from PIL import Image

from ocr.data.fonts import trdg_fonts_dir
from ocr.data.render import RenderJob, Style, render_word

from .conftest import ROOT, run_entry_point, save_untrained

WORDS = ("Coffee", "OPEN", "Station", "42")


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[list[str]]:
    """The shell commands of a section's bash blocks (continued lines joined, comments dropped)."""
    joined = "\n".join(blocks(text, "bash")).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.startswith(".venv/bin/python")]


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    folder = tmp_path_factory.mktemp("words")
    job = RenderJob(WORDS, (str(trdg_fonts_dir() / "Roboto-Regular.ttf"),), Style(height=40), 3, 32, 400)
    for i in range(len(WORDS)):
        Image.fromarray(render_word(job, i)).convert("RGB").save(folder / f"{i}.jpg")
    (folder / "gt.txt").write_text("".join(f"{i}.jpg\t{w}\n" for i, w in enumerate(WORDS)))
    return folder


@pytest.mark.slow
def test_reading_a_photo_as_the_readme_shows(words, tmp_path):
    found = commands(section("Read a photo"))
    assert len(found) == 3
    for command in found:
        args = [a.replace("photo.jpg", str(words / "0.jpg")).replace("photos/", str(words)) for a in command[2:]]
        args = [a.replace("readings.tsv", str(tmp_path / "readings.tsv")) for a in args]
        result = run_entry_point(command[1], *args)
        lines = (tmp_path / "readings.tsv").read_text() if "output=" in " ".join(args) else result.stdout
        readings = [line.split("\t") for line in lines.splitlines()]
        assert readings and all(len(r) == 3 and 0 <= float(r[2]) <= 1 for r in readings), lines
    (code,) = blocks(section("Read a photo"), "python")
    pil_image, numpy_array = Image.open(words / "1.jpg"), np.asarray(Image.open(words / "2.jpg").convert("L"))
    code = code.replace('"a.png"', repr(str(words / "0.jpg"))).replace(
        '"best.ckpt"', repr(str(save_untrained(tmp_path / "m.ckpt")))
    )
    scope = {"pil_image": pil_image, "numpy_array": numpy_array}
    exec(code, scope)  # the README's own lines
    readings = scope["reader"].read([str(words / "0.jpg"), pil_image, numpy_array])
    assert len(readings) == 3


@pytest.mark.slow
def test_evaluating_a_labelled_folder_as_the_readme_shows(words, tmp_path):
    found = commands(section("Evaluate on your labelled images"))
    assert len(found) == 2
    checkpoint = save_untrained(tmp_path / "best.ckpt")
    for i, command in enumerate(found):
        args = [a.replace("my_words/", str(words)).replace("best.ckpt", str(checkpoint)) for a in command[2:]]
        args = [a.replace("[a,b]", f"[{words},{words}]") for a in args]
        run_entry_point(command[1], *args, f"hydra.run.dir={tmp_path / str(i)}")
        assert (tmp_path / str(i) / "metrics.json").is_file() and (tmp_path / str(i) / "grid.png").is_file()
