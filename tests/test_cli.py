"""Mistakes in a command end in a line or two naming the mistake, exit 2, and leave no
empty run folder; HYDRA_FULL_ERROR=1 brings the traceback back."""

import subprocess
import sys

import pytest
from PIL import Image

from .conftest import ROOT, failing


@pytest.mark.parametrize(
    "script, args, message",
    [
        ("train.py", ["model.nHiden=3"], "Could not override 'model.nHiden'. Did you mean 'model.nHidden'?"),
        ("train.py", ["data=foldr"], "Available options in 'data': folder, lmdb, mix, synth, trdg_folder"),
        ("train.py", ["debug=tiny", "trainer.gpus=1"], "trainer.gpus=1 but this machine has 0 CUDA GPU(s)"),
        ("train.py", ["debug=tiny", "data.val_fraction=1"], "data.val_fraction must be >= 0 and < 1, got 1"),
        ("evaluate.py", ["ckpt_path=nowhere.ckpt"], "no such model file nowhere.ckpt (shipped models, by name: eng"),
        ("evaluate.py", ["data=folder", "data.root=conf"], "data.root=conf: no gt.txt"),
        ("predict.py", ["inputs=nowhere/*.png"], "inputs=nowhere/*.png: no such file, folder or matching images"),
        ("predict.py", ["inputs=x.png", "trims=[0.1]"], "Could not override 'trims'. Did you mean 'views.trims'?"),
        ("evaluate.py", ["tilt_below=0.9"], "Could not override 'tilt_below'. Did you mean 'views.below'?"),  # renamed
        (
            "export.py",
            ["ckpt_path=english", "format=pdf"],
            "format must be one of ['fp16', 'onnx', 'onnx_int8', 'torchscript']",
        ),
    ],
)
def test_a_mistake_is_named_in_a_line_and_leaves_nothing_behind(tmp_path, script, args, message):
    result = failing(script, *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    said = [line for line in result.stderr.splitlines() if line.strip() and "img/s" not in line]  # not render bars
    assert len(said) <= 4, result.stderr
    assert not (tmp_path / "run").exists()


def test_the_full_traceback_when_asked_for(tmp_path):
    result = failing("predict.py", "inputs=nowhere.png", env={"HYDRA_FULL_ERROR": "1"})
    assert "Traceback" in result.stderr and "FileNotFoundError: inputs=nowhere.png" in result.stderr


def test_a_sweep_runs_every_job_names_the_one_that_failed_and_exits_1(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir(), bad.mkdir()  # bad has no gt.txt
    Image.new("L", (60, 32), 255).save(good / "0.png")
    (good / "gt.txt").write_text("0.png\tword\n")
    result = failing("evaluate.py", "-m", "data=folder", "data.root=bad,good", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (sweep,) = (tmp_path / "outputs" / "evaluate" / "multiruns").iterdir()
    assert (sweep / "data.root=good,data=folder" / "metrics.json").is_file()  # the job after the failure ran
    reason = "error: data.root=bad: no gt.txt"
    assert (sweep / "data.root=bad,data=folder" / "failed.txt").read_text().startswith(reason)
    assert "sweep: 1 of 2 jobs finished" in result.stdout
    assert "test/word_accuracy" in result.stdout and "val/cer" not in result.stdout  # no empty columns
    assert f"failed: data.root=bad,data=folder: {reason}" in result.stdout


@pytest.mark.parametrize("script", ["train", "evaluate", "predict", "export"])
def test_help_says_how_to_set_values_and_where_each_is_described(script):
    result = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"python {script}.py [group=option ...] [key=value ...]\nconf/{script}.yaml says")
    assert "== Configuration groups ==" in result.stdout and "decode: default, dictionary" in result.stdout
