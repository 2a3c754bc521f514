"""The benchmarks run (tiny counts): their figures are not checked here, only that every
stage was measured and written."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image, ImageFont

from ocr.data.fonts import faithful_fonts, font_folder, trdg_fonts_dir

from .conftest import ROOT, failing, run_entry_point, save_untrained


@pytest.mark.slow
def test_throughput_benchmark_measures_every_stage(tmp_path):
    out = tmp_path / "throughput.json"
    run_entry_point("benchmarks/throughput.py", "--quick", f"--out={out}", f"--cache-dir={tmp_path / 'cache'}")
    result = json.loads(out.read_text())
    stages = result["images_per_sec"]
    for stage in (
        "render, all cores",
        "render, 1 process",
        "load cached store",
        "training: blog post's pipeline (baseline)",
        "training: default",
        "training: model=crnn_small",
        "inference: crnn, batch 256",
    ):
        assert stages[stage] > 0, stage
    assert result["ratio_to_seed_training"]["training: blog post's pipeline (baseline)"] == pytest.approx(1.0)


@pytest.mark.slow
def test_memory_benchmark_trains_on_a_store(tmp_path):
    out = tmp_path / "memory.json"
    run_entry_point("benchmarks/memory.py", "--images=600", "--steps=3", "--workers=1", f"--out={out}")
    result = json.loads(out.read_text())
    assert result["steps"] == 3 and result["images"] == 600 and result["peak_pss_bytes"] > 0


@pytest.mark.slow
def test_start_benchmark_times_the_first_step_and_the_memory_of_each_process(tmp_path):
    out = tmp_path / "start.json"
    overrides = ["debug=tiny", "data.num_workers=1", f"paths.cache_dir={tmp_path / 'cache'}"]
    run_entry_point("benchmarks/start.py", "--counts", "2000", "--steps", "2", f"--out={out}", "--", *overrides)
    (run,) = json.loads(out.read_text())["runs"]
    assert run["count"] == 2000 and 0 < run["first_step_s"] < run["total_s"]
    assert run["most_worker_processes"] in (1, 2)  # a training and a validation loader worker, if both sampled
    assert run["peak_pss_bytes"] >= max(run["peak_main_pss_bytes"], run["peak_workers_pss_bytes"]) > 0


@pytest.mark.slow
def test_profile_reports_training_steps_inference_and_new_widths(tmp_path):
    out = tmp_path / "profile.txt"
    overrides = ["trainer.gpus=0", f"paths.cache_dir={tmp_path}"]
    run_entry_point("benchmarks/profile_steps.py", "--quick", f"--out={out}", *overrides)
    text = out.read_text()
    assert "== training steps: 2 steps, wall" in text and "== inference, batch 16: 2 steps, wall" in text
    assert "aten::" in text  # the operator tables
    assert re.search(r"training step, batch 32: [0-9.]+ / [0-9.]+", text)
    run_entry_point("benchmarks/profile_steps.py", "--quick", "--python", f"--out={out}", *overrides)
    text = out.read_text()
    assert re.search(r"== training steps: 2 steps under cProfile, wall [0-9.]+ ms/step", text)
    assert "run_backward" in text  # the Python functions' table


@pytest.mark.slow
def test_render_benchmark_times_each_renderer(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (300, 200), (90, 140, 60)).save(photos / "field.png")
    out = tmp_path / "render.json"
    run_entry_point(
        "benchmarks/render.py", "--count=40", "--workers=1", "--passes=2", f"--photos={photos}", f"--out={out}"
    )
    figures = json.loads(out.read_text())
    rates, memory = figures["images_per_s"], figures["peak_pss_mb"]
    assert set(rates) == set(memory) == {"layered", "pillow", "pillow, photos"}
    assert all(len(passes) == 2 and min(passes) > 0 for passes in rates.values())
    assert all(len(passes) == 2 and min(passes) > 50 for passes in memory.values())  # Python and numpy alone hold more


def test_soup_writes_the_average_of_the_checkpoints_it_kept(tmp_path):
    import torch

    from ocr.checkpoint import load_checkpoint

    words = tmp_path / "words"
    words.mkdir()
    for i, label in enumerate(["ab", "ba", "aab"]):
        pixels = np.random.default_rng(i).integers(0, 256, (32, 40 + 10 * i), dtype=np.uint8)
        Image.fromarray(pixels).save(words / f"{i}.png")
    (words / "gt.txt").write_text("".join(f"{i}.png\t{label}\n" for i, label in enumerate(["ab", "ba", "aab"])))
    candidates = [str(save_untrained(tmp_path / f"m{seed}.ckpt", seed=seed)) for seed in range(3)]
    out = tmp_path / "soup.ckpt"
    result = run_entry_point("benchmarks/soup.py", *candidates, f"--output={out}", f"--root={words}")
    assert len(re.findall(r"^alone ", result.stdout, re.M)) == 3
    kept = re.search(r"^wrote \S+: (.+)$", result.stdout, re.M).group(1).split()
    states = [load_checkpoint(path)["state_dict"]["model.cnn.0.weight"].float() for path in kept]
    soup = load_checkpoint(out)["state_dict"]["model.cnn.0.weight"].float()
    torch.testing.assert_close(soup, sum(states) / len(states), atol=2e-3, rtol=1e-3)
    # Without folders to choose on, only runs that held out real images (data=mix) qualify.
    with pytest.raises(AssertionError, match="was not trained with data=mix"):
        run_entry_point("benchmarks/soup.py", *candidates, f"--output={out}")


def test_char_frequency_groups_characters_by_their_training_count(tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    # "a" seen 15 times, "b" 3 times, "c" never.
    (train / "gt.txt").write_text("".join(f"{i}.png\t{label}\n" for i, label in enumerate(["aaaa"] * 3 + ["ab"] * 3)))
    predictions = tmp_path / "predictions.tsv"
    rows = [("set", "file", "truth", "prediction"), ("s", "x.png", "ab", "ab"), ("s", "y.png", "abc", "aXc")]
    predictions.write_text("".join("\t".join(row) + "\n" for row in rows))
    out = run_entry_point("benchmarks/char_frequency.py", str(predictions), str(train / "gt.txt")).stdout
    assert "18 training characters, 2 distinct; 2 readings" in out
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert table == {"0": ["1", "1", "100.00%"], "1-9": ["2", "1", "50.00%"], "10-29": ["2", "1", "100.00%"]}


def test_compare_counts_the_words_only_one_reads_and_tests_the_split(tmp_path):
    header = ("set", "file", "truth", "prediction", "confidence", "edit_distance")
    truths = ["Hello", "world", "!!"] + [f"w{i}" for i in range(10)]  # "!!": no letter or digit, left out
    a = ["HELLO", "word", "?"] + [f"w{i}" for i in range(10)][:2] + ["x"] * 8  # w0, w1 right
    b = ["hello", "world", "!!"] + ["x"] * 2 + [f"w{i}" for i in range(2, 10)]  # w2 ... w9 right
    for name, readings in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        rows = [header, *[("s", f"{i}.png", t, r, "0.9", "0") for i, (t, r) in enumerate(zip(truths, readings))]]
        (tmp_path / name / "predictions.tsv").write_text("".join("\t".join(row) + "\n" for row in rows))
    out = run_entry_point("benchmarks/compare.py", str(tmp_path / "a"), str(tmp_path / "b")).stdout
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[3:]}
    # 12 words: A reads Hello, w0, w1 (3); B reads Hello, world, w2-w9 (10); 2 only A, 9 only B.
    # p = 2 (C(11,0) + C(11,1) + C(11,2)) / 2**11 = 0.0654
    assert table["total"] == ["12", "25.00%", "83.33%", "2", "9", "0.0654"]
    exact = run_entry_point("benchmarks/compare.py", str(tmp_path / "a"), str(tmp_path / "b"), "--exact").stdout
    # Exact: A reads w0, w1 (HELLO is not Hello); B also "!!", which counts: 2 only A, 10 only B.
    assert exact.splitlines()[-1].split()[1:] == ["13", "15.38%", "76.92%", "2", "10", "0.0386"]
    lines = (tmp_path / "b" / "predictions.tsv").read_text().splitlines(keepends=True)
    (tmp_path / "b" / "predictions.tsv").write_text("".join(lines[:-1]))  # one image fewer
    other = failing("benchmarks/compare.py", str(tmp_path / "a"), str(tmp_path / "b"))
    assert "read different images (1 in one only, e.g. ('s', '12.png'))" in other.stderr


def test_confidence_counts_the_words_above_each_threshold_and_those_read_right(tmp_path):
    header = ("set", "file", "truth", "prediction", "confidence", "edit_distance")
    readings = [("cat", "cat", "0.99"), ("dog", "dog", "0.95"), ("owl", "ow1", "0.95"), ("emu", "emo", "0.5")]
    rows = [header, *[("s", f"{i}.png", t, r, c, "0") for i, (t, r, c) in enumerate(readings)]]
    (tmp_path / "predictions.tsv").write_text("".join("\t".join(row) + "\n" for row in rows))
    out = run_entry_point("benchmarks/confidence.py", str(tmp_path), "--thresholds", "0.95", "0.99").stdout
    assert "4 words, 50.00% read right" in out
    table = [line.split() for line in out.splitlines()[2:]]
    assert table == [["0.95", "3", "75.0%", "66.67%", "1", "0.00%"], ["0.99", "1", "25.0%", "100.00%", "3", "33.33%"]]


def test_gpu_fonts_packs_the_fonts_a_config_draws_and_names_them_in_place(tmp_path):
    family = tmp_path / "mine" / "roboto"
    family.mkdir(parents=True)
    for name in ("Roboto-Regular.ttf", "Roboto-Bold.ttf", "Amatic-Bold.ttf"):  # Amatic: capitals for lower case
        shutil.copy(trdg_fonts_dir() / name, family / name)
    out, config = tmp_path / "bundle", ["experiment=english", f"data.fonts=[reportlab,{family.parent}]"]

    run_entry_point("benchmarks/gpu_fonts.py", "pack", str(out), *config)
    mine = out / family.parent.relative_to("/")
    assert sorted(p.name for p in (mine / "roboto").iterdir()) == ["Roboto-Bold.ttf", "Roboto-Regular.ttf"]
    printable = OmegaConf.load(ROOT / "conf/charset/printable.yaml").alphabet
    faithful = faithful_fonts(printable, str(font_folder("reportlab")))
    assert sorted(p.name for p in (out / "reportlab").rglob("*.*")) == sorted(Path(p).name for p in faithful)

    def drawn(path: Path) -> tuple[np.ndarray, tuple]:
        mask = ImageFont.truetype(str(path), 40).getmask("Wq&9")
        return np.asarray(mask).reshape(mask.size[1], mask.size[0]), ImageFont.truetype(str(path), 12).getname()

    packed, original = mine / "roboto" / "Roboto-Bold.ttf", family / "Roboto-Bold.ttf"
    assert packed.stat().st_size < original.stat().st_size / 2  # printable ASCII only
    (ink, names), (original_ink, original_names) = drawn(packed), drawn(original)
    assert np.array_equal(ink, original_ink) and names == original_names  # same outlines, same family

    listed = run_entry_point("benchmarks/gpu_fonts.py", "list", str(out), *config).stdout.strip()
    assert listed == f"data.fonts=[{(out / 'reportlab').resolve()},{mine.resolve()}]"
    run_entry_point("benchmarks/gpu_fonts.py", "pack", str(out), *config, "data.capitals=true")
    assert (mine / "roboto" / "Amatic-Bold.ttf").is_file()
    with pytest.raises(AssertionError, match="beyond printable ASCII"):  # cut fonts would lack them
        run_entry_point("benchmarks/gpu_fonts.py", "pack", str(out), "experiment=russian")


def test_packed_sets_give_the_model_the_inputs_of_the_originals(tmp_path):
    from ocr.data.images import MAX_WIDTH, read_image

    source = tmp_path / "photos"
    (source / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (75, 210, 3), np.uint8)).save(source / "a.jpg", quality=80)
    Image.fromarray(rng.integers(0, 255, (40, 30, 4), np.uint8), "RGBA").save(source / "sub" / "b.png")  # tall, alpha
    Image.fromarray(rng.integers(0, 255, (20, 900), np.uint8)).save(source / "c.png")  # squeezed to MAX_WIDTH
    (source / "d.jpg").write_bytes(b"not an image")
    labels = {"a.jpg": "Word", "sub/b.png": "x y", "c.png": "long", "d.jpg": "lost"}
    (source / "gt.txt").write_text("".join(f"{p}\t{t}\n" for p, t in labels.items()), encoding="utf-8")

    printed = run_entry_point("benchmarks/pack_sets.py", str(tmp_path / "out"), str(source)).stdout
    packed = tmp_path / "out" / "photos"
    assert "photos: 3 images" in printed and "d.jpg" in printed  # the unreadable one named, left out
    lines = [line.split("\t") for line in (packed / "gt.txt").read_text(encoding="utf-8").splitlines()]
    assert [label for _, label in lines] == ["Word", "x y", "long"]
    for (name, _), original in zip(lines, ["a.jpg", "sub/b.png", "c.png"]):
        expected = read_image(source / original, 32, MAX_WIDTH)
        assert np.array_equal(read_image(packed / name, 32, MAX_WIDTH), expected), original
        assert Image.open(packed / name).size == (expected.shape[1], 32)


@pytest.mark.slow
def test_reading_benchmark_times_each_reader_in_every_round(tmp_path):
    words = tmp_path / "words"
    words.mkdir()
    for i in range(6):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 60 + 10 * i), dtype=np.uint8)).save(
            words / f"{i}.png"
        )
    tesseract = shutil.which("tesseract") is not None  # beside Tesseract where it is installed
    out = tmp_path / "reading.json"
    options = ["--rounds=2", f"--out={out}"] + ([] if tesseract else ["--no-tesseract"])
    result = run_entry_point("benchmarks/reading.py", str(words), *options, "--", "", "decode=dictionary")
    figures = json.loads(out.read_text())
    assert figures["images"] == 6 and len(figures["rounds"]) == 2
    for round_ in figures["rounds"]:
        assert set(round_) == {"", "decode=dictionary"} | ({"tesseract"} if tesseract else set())
        assert all(speed > 0 for speed in round_.values())
    assert "| `decode=dictionary` |" in result.stdout and "| the default |" in result.stdout
