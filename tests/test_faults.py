"""Nothing lost: killed runs resume, killed renders complete, shared caches render once,
non-finite losses are caught, a full disk leaves the last checkpoint whole."""

import csv
import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from PIL import Image

from ocr.callbacks import AtomicCheckpointIO
from ocr.checkpoint import load_checkpoint
from ocr.data import store
from ocr.data.labels import LabelFileError
from ocr.models.guard import NonFiniteLossError
from ocr.models.system import OCRSystem
from ocr.training import train

from .conftest import ROOT, run_entry_point, save_untrained

RENDER_SCRIPT = """
import sys
from ocr.data.fonts import trdg_fonts_dir
from ocr.data.render import RenderJob, Style, render_store
words = tuple(f"w{i}" for i in range(int(sys.argv[2])))
job = RenderJob(words, (str(trdg_fonts_dir() / "Roboto-Regular.ttf"),), Style(), seed=3, imgH=32, max_width=400)
print("rendered", render_store(job, sys.argv[1], workers=1, shard_size=int(sys.argv[3])), flush=True)
"""


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, timeout: float = 240, what: str = "") -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def saved_step(path: Path) -> int:
    try:
        return load_checkpoint(path)["global_step"]
    except (FileNotFoundError, ValueError):
        return -1


def csv_rows(run: Path) -> list[dict]:
    path = run / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def validated(run: Path) -> bool:
    return any(row.get("val/cer") for row in csv_rows(run))


# Where a run is killed: before its first validation (step 3 of 10 in the first epoch),
# in the middle of its second epoch, and just after its first validation.
KILL_POINTS = {
    "before the first validation": lambda run: saved_step(run / "checkpoints" / "last.ckpt") >= 3,
    "mid-epoch": lambda run: saved_step(run / "checkpoints" / "last.ckpt") >= 15,
    "after an epoch": validated,
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_during_training_then_the_same_command_resumes_keeping_every_log(tmp_path, cache_dir, point):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    command = [
        "train.py",
        "debug=tiny",
        f"paths.cache_dir={cache_dir}",
        f"hydra.run.dir={run}",
        "ckpt_path=last",
        "callbacks.last_checkpoint.every_n_train_steps=3",
        "logger.csv.flush_logs_every_n_steps=1",
        "test=false",
    ]
    process = start([*command, "trainer.max_epochs=100"])
    wait_for(lambda: KILL_POINTS[point](run) or process.poll() is not None, what=point)
    wait_for(lambda: saved_step(last) >= 3 or process.poll() is not None, what="a checkpoint")
    kill(process)
    step = saved_step(last)
    assert step >= 3
    for checkpoint in (run / "checkpoints").glob("*.ckpt"):  # nothing truncated
        load_checkpoint(checkpoint)
    before = csv_rows(run)
    events = {p: p.stat().st_size for p in (run / "tensorboard").glob("events.out.tfevents.*")}
    assert events and (before or point == "before the first validation")
    epoch = load_checkpoint(last)["epoch"]
    result = run_entry_point(*command, f"trainer.max_epochs={epoch + 2}")
    assert "Restoring states from the checkpoint path at" in result.stderr + result.stdout
    assert saved_step(last) > step
    # Every row logged before the kill is still there, the resumed run's rows after them.
    after = csv_rows(run)
    assert len(after) > len(before)
    kept = [{k: v for k, v in row.items() if v} for row in after[: len(before)]]
    assert kept == [{k: v for k, v in row.items() if v} for row in before]
    assert any(row.get("val/cer") for row in after[len(before) :])
    # TensorBoard keeps the killed run's event files and adds the resumed run's.
    for path, size in events.items():
        assert path.stat().st_size >= size
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) > len(events)


@pytest.mark.slow
def test_kill_9_during_rendering_leaves_a_store_that_is_completed_not_used(tmp_path):
    folder = tmp_path / "store"
    process = start(["-c", RENDER_SCRIPT, str(folder), "4000", "40"])
    wait_for(lambda: len(list(folder.glob("shard-*.json"))) >= 3 or process.poll() is not None, what="shards")
    kill(process)
    whole = len(list(folder.glob("shard-*.json")))
    assert 3 <= whole < 100
    with pytest.raises(FileNotFoundError, match="not a complete image store"):
        store.ImageStore(folder)
    done = run_entry_point_code(RENDER_SCRIPT, folder, 4000, 40)
    assert done == 4000 - 40 * whole  # only the missing shards were rendered
    assert len(store.ImageStore(folder)) == 4000


def run_entry_point_code(code: str, *args) -> int:
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.split("rendered")[-1])


@pytest.mark.slow
def test_two_runs_sharing_a_cache_render_it_once(tmp_path):
    folder = tmp_path / "shared"
    processes = [start(["-c", RENDER_SCRIPT, str(folder), "300", "50"]) for _ in range(2)]
    counts = sorted(int(p.communicate(timeout=600)[0].split("rendered")[-1]) for p in processes)
    assert counts == [0, 300]
    assert len(store.ImageStore(folder)) == 300


def test_a_non_finite_step_is_skipped_and_counted(train_cfg, monkeypatch):
    cfg = train_cfg("debug=fdr")
    pl.seed_everything(cfg.seed, workers=True)
    instantiate(cfg.data)
    initial = {k: v.clone() for k, v in instantiate(cfg.model).named_parameters()}
    monkeypatch.setattr(OCRSystem, "ctc_loss", lambda self, logits, labels, widths: logits.float().sum() * float("nan"))
    _, objects = train(cfg)
    model = objects["model"]
    assert model.guard.skipped == 1
    for name, value in model.named_parameters():
        assert torch.equal(value.detach().cpu(), initial[name]), name
    # Skipped on the device by the fused Adam: not even its step count moved.
    optimizer = objects["trainer"].optimizers[0]
    assert optimizer.defaults["fused"] and all(int(s["step"]) == 0 for s in optimizer.state.values())


def test_the_fused_optimiser_still_clips_the_gradient_norm():
    model = OCRSystem(alphabet="ab", channels=[8] * 7, nHidden=8)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.configure_gradient_clipping(optimizer, 0.05, "norm")
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert norm == pytest.approx(0.05, rel=1e-3)


def test_a_loss_that_stays_non_finite_stops_the_run_naming_the_batch(train_cfg, monkeypatch):
    monkeypatch.setattr(OCRSystem, "ctc_loss", lambda self, logits, labels, widths: logits.float().sum() * float("inf"))
    with pytest.raises(NonFiniteLossError, match=r"3 steps in a row.*labels of lengths"):
        train(train_cfg("model.max_nonfinite_steps=3", "test=false"))


def test_a_full_disk_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1, "weights": torch.ones(100)}, path)

    def full_disk(obj, f):
        f.write(b"partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match=r"could not write checkpoint .*last.ckpt: No space left on device; the previous"):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.imgH=30", "imgH must be a positive multiple of 16, got imgH=30"),
        ("model.alphabet=abca", "duplicate characters 'a'"),
    ],
)
def test_bad_model_configs_say_what_to_change(train_cfg, override, message):
    with pytest.raises(InstantiationException, match=message):
        instantiate(train_cfg(override).model)


def test_fine_tuning_data_with_characters_the_checkpoint_lacks_is_refused(train_cfg, tmp_path):
    from PIL import Image

    _, first = train(train_cfg("debug=fdr"))
    checkpoint = tmp_path / "model.ckpt"
    first["trainer"].save_checkpoint(checkpoint)
    data = tmp_path / "real"
    data.mkdir()
    for i in range(10):
        Image.new("L", (60, 20), 200).save(data / f"{i}.png")
    (data / "gt.txt").write_text("".join(f"{i}.png\t{'naïve' if i == 3 else 'plain'}\n" for i in range(10)))
    folder = ["data=folder", f"data.root={data}", "data.batch_size=4"]  # debug=tiny fits any data
    with pytest.raises(LabelFileError, match=r"gt.txt:4 'naïve' \('ï'\)"):
        train(train_cfg("debug=fdr", f"init_from={checkpoint}", *folder))
    _, tuned = train(train_cfg("debug=fdr", f"init_from={checkpoint}", "init_extend_alphabet='ï'", *folder))
    assert tuned["model"].codec.alphabet == first["model"].codec.alphabet + "ï"
    # The fine-tuning recipe leaves such labels out instead, and trains with its augmentation.
    _, recipe = train(train_cfg("experiment=finetune", "debug=fdr", f"init_from={checkpoint}", *folder))
    assert recipe["model"].codec.alphabet == first["model"].codec.alphabet
    assert recipe["model"].augment.stretch > 0 and recipe["trainer"].global_step == 1


def test_images_that_cannot_be_read_count_as_wrong_readings(tmp_path):
    from ocr.config import compose_config
    from ocr.evaluation import evaluate

    root = tmp_path / "words"
    root.mkdir()
    for i in range(3):
        Image.new("L", (60, 20), 200).save(root / f"{i}.png")
    (root / "broken.png").write_bytes(b"not an image")
    (root / "gt.txt").write_text("0.png\tab\n1.png\tcd\n2.png\tef\nbroken.png\tgh\nmissing.png\tij\n")
    out = tmp_path / "eval"
    checkpoint = save_untrained(tmp_path / "m.ckpt")
    overrides = [f"ckpt_path={checkpoint}", "data=folder", f"data.root={root}", "num_workers=0", "precision=32"]
    results = evaluate(compose_config("evaluate", overrides, out))
    assert results["words"]["n"] == 5 and results["words"]["unreadable"] == 2
    assert results["words"]["word_accuracy"] <= 3 / 5
    saved = json.loads((out / "metrics.json").read_text())
    assert sorted(Path(p).name for p in saved["unreadable_files"]["words"]) == ["broken.png", "missing.png"]
    rows = (out / "predictions.tsv").read_text().splitlines()
    assert len(rows) == 6 and sum(row.split("\t")[3] == "" for row in rows[1:]) >= 2


def test_an_evaluation_killed_before_its_end_leaves_no_metrics(tmp_path, monkeypatch):
    """metrics.json is written last: its presence means the other outputs are whole."""
    from ocr import evaluation
    from ocr.config import compose_config

    root = tmp_path / "words"
    root.mkdir()
    Image.new("L", (60, 20), 200).save(root / "0.png")
    (root / "gt.txt").write_text("0.png\tab\n")
    checkpoint = save_untrained(tmp_path / "m.ckpt")
    cfg = compose_config("evaluate", [f"ckpt_path={checkpoint}", "data=folder", f"data.root={root}"], tmp_path / "e")

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "write_grids", killed)
    with pytest.raises(KeyboardInterrupt):
        evaluation.evaluate(cfg)
    assert (tmp_path / "e" / "predictions.tsv").is_file() and not (tmp_path / "e" / "metrics.json").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.val_fraction=1.0", r"data.val_fraction must be >= 0 and < 1, got 1.0"),
        ("trainer.max_epochs=abc", r"trainer.max_epochs must be a whole number >= -1, got 'abc'"),
        ("data.batch_size=0", r"data.batch_size must be >= 1, got 0"),
        ("model.lr=-1", r"model.lr must be >= 0, got -1"),
        ("data.count=1.5", r"data.count must be a whole number >= 2, got 1.5"),
    ],
)
def test_nonsense_option_values_are_named_before_anything_runs(train_cfg, override, message):
    with pytest.raises(ValueError, match=message):
        train(train_cfg(override))


def test_no_validation_split_trains_on_everything_and_keeps_the_lowest_training_loss(train_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ocr")
    metrics, objects = train(train_cfg("data.val_fraction=0", "trainer.max_epochs=2"))
    trainer = objects["trainer"]
    assert len(objects["datamodule"].train_set) == 200 and trainer.current_epoch == 2
    assert not any(type(c).__name__ == "EarlyStopping" for c in trainer.callbacks)
    assert trainer.checkpoint_callback.monitor == "train/loss_epoch"
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file() and 0 <= metrics["test/char_accuracy"] <= 1
    assert caplog.text.count("data.val_fraction=0: no validation") == 1


def test_a_second_run_in_a_busy_run_directory_is_refused(train_cfg, tmp_path):
    from ocr.files import RunDirectoryBusy, lock_run_directory

    with lock_run_directory(tmp_path):
        with pytest.raises(RunDirectoryBusy, match="another run is writing to"):
            train(train_cfg("debug=fdr"))
    # A run killed with -9 leaves no lock behind: the operating system drops it.
    holder = start(
        [
            "-c",
            f"from ocr.files import lock_run_directory as l; c = l({str(tmp_path)!r}); c.__enter__(); "
            "print('held', flush=True); import time; time.sleep(600)",
        ]
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunDirectoryBusy):
        lock_run_directory(tmp_path).__enter__()
    kill(holder)
    train(train_cfg("debug=fdr"))
