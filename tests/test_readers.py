"""Label files and datasets users bring: every reader, on good and malformed input."""

import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from ocr.data.datamodule import FolderDataModule
from ocr.data.labels import LabelFileError, read_gt_file, read_trdg_folder, screen
from ocr.data.lmdb_store import LmdbImages, write_lmdb
from ocr.data.lmdb_store import main as lmdb_convert

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -'"


def word_image(path, shade=40, size=(60, 20)):
    image = Image.new("L", size, 230)
    image.paste(shade, (5, 5, size[0] - 5, size[1] - 5))
    image.save(path)


@pytest.fixture
def gt_folder(tmp_path):
    root = tmp_path / "set"
    (root / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png", "sub/c.png"):
        word_image(root / name)
    (root / "gt.txt").write_text("a.png\thello\nb.png\tNew York\n\nsub/c.png\tit's\n", encoding="utf-8")
    return root


def test_gt_file_is_read_with_spaces_and_subfolders(gt_folder):
    entries = read_gt_file(gt_folder)
    assert [(f, label) for f, label, _ in entries] == [("a.png", "hello"), ("b.png", "New York"), ("sub/c.png", "it's")]
    kept = screen(entries, gt_folder, ALPHABET, "error", 800)
    assert [label for _, label in kept] == ["hello", "New York", "it's"]


def test_malformed_gt_lines_name_file_and_line(tmp_path):
    (tmp_path / "gt.txt").write_text("a.png\tok\nno-tab-here\n", encoding="utf-8")
    with pytest.raises(LabelFileError, match=r"gt.txt:2: expected"):
        read_gt_file(tmp_path)
    (tmp_path / "gt.txt").write_bytes(b"a.png\tok\nb.png\tcaf\xe9\n")
    with pytest.raises(LabelFileError, match=r"gt.txt:2: not UTF-8"):
        read_gt_file(tmp_path)
    with pytest.raises(LabelFileError, match="no such label file"):
        read_gt_file(tmp_path / "nowhere")


def test_labels_are_read_in_composed_form_and_image_paths_as_written(tmp_path):
    decomposed, composed = "cafe\u0301", "caf\u00e9"  # é typed as e + a combining accent, and as é
    alphabet = "acef" + composed
    root = tmp_path / "set"
    root.mkdir()
    word_image(root / f"{decomposed}.png")  # a file name spelt decomposed (as macOS writes names)
    (root / "gt.txt").write_text(f"{decomposed}.png\t{decomposed}\n", encoding="utf-8")
    entries = read_gt_file(root)
    assert [(f, label) for f, label, _ in entries] == [(f"{decomposed}.png", composed)]
    assert [label for _, label in screen(entries, root, alphabet, "error", 800)] == [composed]  # found, spelt
    (root / "gt.txt").unlink()
    shutil.move(root / f"{decomposed}.png", root / f"{decomposed}_0.png")
    assert [label for _, label, _ in read_trdg_folder(root)] == [composed]
    write_lmdb([(root / f"{decomposed}_0.png", decomposed)], tmp_path / "theirs.lmdb")  # written elsewhere
    assert LmdbImages(tmp_path / "theirs.lmdb", alphabet, imgH=32, max_width=800).labels == [composed]


def test_screen_skips_and_counts_what_cannot_be_used(gt_folder, caplog):
    (gt_folder / "gt.txt").write_text(
        "a.png\thello\na.png\tagain\nmissing.png\tlost\n../outside.png\tescape\nb.png\t\n"
        "sub/c.png\t" + "w" * 300 + "\n",
        encoding="utf-8",
    )
    word_image(gt_folder.parent / "outside.png")
    with caplog.at_level(logging.WARNING):
        kept = screen(read_gt_file(gt_folder), gt_folder, ALPHABET, "error", max_width=800)
    assert [label for _, label in kept] == ["hello"]
    message = caplog.text
    for problem in (
        "1 duplicate entries",
        "1 missing images",
        "1 paths outside the dataset folder",
        "1 empty labels",
        "1 labels too long for max_width=800",
    ):
        assert problem in message, problem


def test_unknown_characters_are_an_error_listing_them_or_skipped(gt_folder):
    (gt_folder / "gt.txt").write_text("a.png\tcafé\nb.png\tfine\n", encoding="utf-8")
    with pytest.raises(LabelFileError, match=r"gt.txt:1 'café' \('é'\).*data.unknown_chars=skip"):
        screen(read_gt_file(gt_folder), gt_folder, ALPHABET, "error", 800)
    assert [label for _, label in screen(read_gt_file(gt_folder), gt_folder, ALPHABET, "skip", 800)] == ["fine"]
    assert len(screen(read_gt_file(gt_folder), gt_folder, ALPHABET, "keep", 800)) == 2


def test_trdg_folders_with_labels_in_names_or_in_labels_txt(tmp_path):
    names = tmp_path / "names"
    names.mkdir()
    for name in ("hello_0.jpg", "snake_case_word_1.jpg", "notes.txt"):
        word_image(names / name) if name.endswith(".jpg") else (names / name).write_text("x")
    assert sorted(label for _, label, _ in read_trdg_folder(names)) == ["hello", "snake_case_word"]
    listed = tmp_path / "listed"
    listed.mkdir()
    word_image(listed / "0.jpg")
    (listed / "labels.txt").write_text("0.jpg two words\n", encoding="utf-8")
    assert [(f, label) for f, label, _ in read_trdg_folder(listed)] == [("0.jpg", "two words")]
    (listed / "labels.txt").write_text("0.jpg\n", encoding="utf-8")
    with pytest.raises(LabelFileError, match="labels.txt:1"):
        read_trdg_folder(listed)
    with pytest.raises(LabelFileError, match="no labels.txt"):
        read_trdg_folder(tmp_path)


def test_lmdb_round_trip_through_the_converter(gt_folder, tmp_path):
    target = tmp_path / "set.lmdb"
    lmdb_convert([str(gt_folder), str(target)])
    data = LmdbImages(target, ALPHABET, imgH=32, max_width=800)
    assert data.labels == ["hello", "New York", "it's"]
    index, image, label = data[1]
    assert (index, label, image.shape[0]) == (1, "New York", 32)
    assert image.shape[1] >= data.widths[1] - 1
    with pytest.raises(FileExistsError):
        lmdb_convert([str(gt_folder), str(target)])
    with pytest.raises(FileNotFoundError, match="not an LMDB folder"):
        LmdbImages(gt_folder, ALPHABET, 32, 800)


def test_lmdb_is_read_from_several_dataloader_workers(gt_folder, tmp_path):
    from torch.utils.data import DataLoader

    from ocr.data.batching import collate

    target = tmp_path / "set.lmdb"
    lmdb_convert([str(gt_folder), str(target)])
    data = LmdbImages(target, ALPHABET, imgH=32, max_width=800)
    data[0]  # the parent opens its environment first: workers must open their own
    labels = [
        label
        for batch in DataLoader(data, batch_size=1, num_workers=2, collate_fn=collate)
        for label in batch["labels"]
    ]
    assert sorted(labels) == sorted(data.labels)


@pytest.mark.parametrize("format_", ["gt", "lmdb"])
def test_folder_datamodule_splits_training_data_and_tests_on_its_own_folders(gt_folder, tmp_path, format_):
    for i in range(7):
        word_image(gt_folder / f"x{i}.png")
    (gt_folder / "gt.txt").write_text("".join(f"x{i}.png\tword{i}\n" for i in range(7)), encoding="utf-8")
    root = gt_folder
    if format_ == "lmdb":
        root = tmp_path / "train.lmdb"
        lmdb_convert([str(gt_folder), str(root)])
    dm = FolderDataModule(ALPHABET, root=str(root), test_root=[str(root), str(root)], format=format_, num_workers=0)
    dm.setup("fit")
    dm.setup("test")
    assert len(dm.train_set) + len(dm.val_set) == 7 and len(dm.val_set) == 1
    assert len(dm.test_sets) == 1  # the same folder twice is one test set by name
    batch = next(iter(dm.loader(dm.train_set, train=True)))
    assert batch["images"].shape[2] == 32 and len(batch["labels"]) == 6


def test_weighted_draws_take_each_source_s_share_of_an_epoch():
    from ocr.data.batching import WidthBatchSampler
    from ocr.data.datasets import Mixture

    class Part(list):
        def __init__(self, n, name):
            super().__init__(range(n))
            self.labels, self.widths, self.name, self.names = ["x"] * n, np.full(n, 40), name, [name] * n

    mixture = Mixture([Part(1000, "renders"), Part(50, "real")], [0.7, 0.3], draws=2000)
    sampler = WidthBatchSampler(mixture.widths, 20, shuffle=True, weights=mixture.draw_weights, draws=mixture.draws)
    drawn = np.concatenate([np.array(b) for b in sampler])
    assert len(sampler) == 100 and len(drawn) == 2000
    assert 0.25 < (drawn >= 1000).mean() < 0.35  # the small real set: 30% of the draws
    sampler.set_epoch(1)
    assert not np.array_equal(np.concatenate([np.array(b) for b in sampler]), drawn)
    with pytest.raises(ValueError, match="mixture weights"):
        Mixture([Part(3, "a")], [0.5, 0.5])


def test_a_missing_real_folder_is_named_before_anything_renders(train_cfg, tmp_path, gt_folder):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    cache = tmp_path / "cache"
    for key, folders in (("data.real_roots", f"[{gt_folder},{tmp_path / 'nowhere'}]"), ("data.test_root", "nowhere")):
        real = [] if key == "data.real_roots" else [f"data.real_roots=[{gt_folder}]"]
        overrides = ["data=mix", f"data.cache_dir={cache}", *real, f"{key}={folders}"]
        with pytest.raises(InstantiationException, match=f"{key}=.*nowhere: no such folder"):
            instantiate(train_cfg(*overrides).data)
    assert not cache.exists()  # raised when the data module is built, before any render


def test_mixing_renders_with_real_folders_holds_out_the_same_real_images(train_cfg, tmp_path, gt_folder):
    from hydra.utils import instantiate

    other = tmp_path / "other"
    shutil.copytree(gt_folder, other)
    mix = ["data=mix", f"data.cache_dir={tmp_path / 'cache'}", "data.real_weight=0.25"]
    dm = instantiate(train_cfg(*mix, f"data.real_roots=[{gt_folder},{other}]").data)
    dm.prepare_data()
    dm.setup("fit")
    alone = instantiate(train_cfg(*mix, f"data.real_roots=[{gt_folder}]").data)
    alone.prepare_data()
    alone.setup("fit")
    name = f"{gt_folder.name}_heldout"
    assert dm.test_sets[name].names == alone.test_sets[name].names  # the same held-out images
    assert set(dm.test_sets) == {name, f"{other.name}_heldout", "synth_test"}
    assert len(dm.val_set) == sum(len(dm.test_sets[k]) for k in (name, f"{other.name}_heldout"))
    held = set(dm.test_sets[name].names)
    trained = {n for n in dm.train_set.names if not n.startswith("synth")}
    assert held and not held & trained  # held-out images never train
    real = np.isin(np.arange(len(dm.train_set)), np.arange(dm.train_set.offsets[1], len(dm.train_set)))
    assert dm.train_set.draw_weights[real].sum() == pytest.approx(0.25)
    # Evaluating a mixture's checkpoint (evaluate.py) renders its test set alone.
    tested = instantiate(train_cfg(*mix, f"data.real_roots=[{gt_folder}]", f"data.cache_dir={tmp_path / 'new'}").data)
    tested.prepare_data(splits=("test",))
    tested.setup("test")
    assert tested.train_set is None and tested.test_sets[name].names == alone.test_sets[name].names
    # Trained on the mixture, tested on each held-out part and the renders' test set.
    from ocr.training import train

    metrics, _ = train(train_cfg("debug=fdr", *mix, f"data.real_roots=[{gt_folder},{other}]"))
    assert {f"test/{name}/word_accuracy", "test/synth_test/word_accuracy"} <= set(metrics)


def test_each_real_folder_may_have_its_own_share_of_the_draws(train_cfg, tmp_path, gt_folder):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    other = tmp_path / "other"
    shutil.copytree(gt_folder, other)
    mix = ["data=mix", f"data.cache_dir={tmp_path / 'cache'}", f"data.real_roots=[{gt_folder},{other}]"]
    dm = instantiate(train_cfg(*mix, "data.real_weight=[0.1,0.3]").data)
    dm.prepare_data()
    dm.setup("fit")
    starts = dm.train_set.offsets[1:]  # where each real folder's images begin, then the end
    shares = [dm.train_set.draw_weights[a:b].sum() for a, b in zip(starts, starts[1:])]
    assert shares == pytest.approx([0.1, 0.3])  # the renders draw the other 0.6
    wrong = {"[0.5]": "1 shares for 2", "[0.7,0.6]": "add up to more than 1", "[0.1,-1]": r"real_weight\[1\]"}
    for weights, message in wrong.items():
        with pytest.raises(InstantiationException, match=message):
            instantiate(train_cfg(*mix, f"data.real_weight={weights}").data)
