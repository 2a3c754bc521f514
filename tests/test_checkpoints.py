"""Checkpoints are data: nothing in one runs or is built, damaged weights are refused,
float16 copies read as their originals, and resuming or fine-tuning names what differs."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ocr import Recognizer
from ocr.checkpoint import (
    average_checkpoints,
    load_checkpoint,
    model_from_checkpoint,
    reader_from_checkpoint,
    slim_checkpoint,
)
from ocr.data.datamodule import SynthDataModule, checkpoint_data_config, datamodule_from_checkpoint
from ocr.data.trdg_compat import trdg_folder
from ocr.training import adopt_checkpoint_model, train
from ocr.weights import DEFAULT_MODEL, WEIGHTS, reading_path

from .conftest import run_entry_point, save_untrained


def test_a_checkpoint_that_asks_hydra_to_run_code_is_refused(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    checkpoint = torch.load(save_untrained(tmp_path / "m.ckpt"), weights_only=True)
    payload = {"_target_": "ocr.files.write_json", "path": str(victim), "payload": {"owned": True}}
    checkpoint["data_config"] = {"_target_": "builtins.dict", "p": payload}  # where earlier versions kept it
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    with pytest.raises(AssertionError, match="names 'builtins.dict', not one of the data modules"):
        run_entry_point("evaluate.py", f"ckpt_path={tmp_path / 'evil.ckpt'}", f"hydra.run.dir={tmp_path / 'eval'}")
    # A registered name with a nested target, or code in the hyperparameters: refused too.
    with pytest.raises(ValueError, match=r"data config.p holds the key '_target_'"):
        datamodule_from_checkpoint({"name": "synth", "p": payload}, {})
    del checkpoint["data_config"]
    checkpoint["hyper_parameters"]["data"] = {"name": "synth", "p": payload}
    torch.save(checkpoint, tmp_path / "evil_data.ckpt")
    with pytest.raises(ValueError, match=r"hyper_parameters.data.p holds the key '_target_'"):
        load_checkpoint(tmp_path / "evil_data.ckpt")
    checkpoint["hyper_parameters"]["augment"] = payload
    torch.save(checkpoint, tmp_path / "evil_model.ckpt")
    with pytest.raises(ValueError, match=r"hyper_parameters.augment holds the key '_target_'"):
        load_checkpoint(tmp_path / "evil_model.ckpt")
    assert json.loads(victim.read_text()) == {}


def test_the_shipped_checkpoints_still_describe_their_data(tmp_path):
    for path in sorted(WEIGHTS.glob("*.ckpt")):
        config = model_from_checkpoint(path).hparams.data  # earlier ones: a class path, read as a name
        # What the project fetches is named inside it (data/...), not in the folder it was trained in.
        assert config["cache_dir"] == "data/cache" and config["style"]["photos"] == ["data/photos/debian"]
        assert not [font for font in config.get("fonts") or [] if font.startswith("/") and "/data/" in font]
        # Its photos (`make photos`) replaced by trdg's: the look is built, not rendered.
        config["style"]["photos"] = [str(trdg_folder("images"))]
        datamodule = datamodule_from_checkpoint(config, {"cache_dir": str(tmp_path), "num_workers": 0})
        assert isinstance(datamodule, SynthDataModule) and datamodule.sets.test_count == config["test_count"]
        legacy = load_checkpoint(path).get("data_config")
        assert legacy is None or legacy["_target_"] == "ocr.data.datamodule.SynthDataModule"


def test_a_checkpoint_names_the_project_s_own_folders_relative_to_it():
    # Trained in /home/u/ocr, read from any clone: data/... lies in the project wherever it is.
    composed = {
        "_target_": "ocr.data.datamodule.SynthDataModule",
        "cache_dir": "/home/u/ocr/data/cache",
        "fonts": ["trdg", "/home/u/ocr/data/fonts_display", "/usr/share/fonts/truetype", "/home/u/ocr2/fonts"],
        "style": {"photos": ["/home/u/ocr/data/photos/debian", "/srv/photos"], "blur": 0.1},
    }
    assert checkpoint_data_config(composed, "/home/u/ocr") == {
        "name": "synth",
        "cache_dir": "data/cache",
        "fonts": ["trdg", "data/fonts_display", "/usr/share/fonts/truetype", "/home/u/ocr2/fonts"],
        "style": {"photos": ["data/photos/debian", "/srv/photos"], "blur": 0.1},
    }


def test_weights_that_are_not_finite_are_refused_with_their_name(tmp_path):
    checkpoint = torch.load(save_untrained(tmp_path / "m.ckpt"), weights_only=True)
    checkpoint["state_dict"]["model.rnn.0.embedding.bias"][3] = float("nan")
    torch.save(checkpoint, tmp_path / "damaged.ckpt")
    with pytest.raises(ValueError, match=r"weight model.rnn.0.embedding.bias holds 1 non-finite value"):
        Recognizer.load(tmp_path / "damaged.ckpt")
    # 8 bytes overwritten inside a shipped model's weights.
    data = bytearray((WEIGHTS / "english.ckpt").read_bytes())
    start = data.index(b"data/0") + 4096
    data[start : start + 8] = b"\xff" * 8
    (tmp_path / "english.ckpt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="non-finite|cannot be read"):
        Recognizer.load(tmp_path / "english.ckpt")


def test_float16_export_keeps_batch_norm_statistics_float16_cannot_hold(tmp_path):
    path = save_untrained(tmp_path / "m.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    # Variances past float16's 65,504, as a CRNN trained on a GPU had in its deeper layers.
    checkpoint["state_dict"]["model.cnn.19.running_var"] *= 1e6
    checkpoint["state_dict"]["model.cnn.19.running_mean"] += 2e5
    torch.save(checkpoint, path)
    slim = slim_checkpoint(path, tmp_path / "slim.ckpt")
    state = load_checkpoint(slim)["state_dict"]
    assert state["model.cnn.19.running_var"].dtype == torch.float32
    assert state["model.cnn.0.weight"].dtype == torch.float16
    images = [np.random.default_rng(i).integers(0, 256, (32, 60 + 9 * i), dtype=np.uint8) for i in range(6)]
    full = model_from_checkpoint(path).float()
    with torch.no_grad():
        reference = [r.text for r in Recognizer.from_model(full, "cpu", "32").read(images)]
    assert [r.text for r in Recognizer.load(slim, precision="32").read(images)] == reference
    # A weight that float16 cannot hold stays float32 rather than becoming infinite.
    checkpoint["state_dict"]["model.rnn.1.embedding.bias"][0] = 1e6
    torch.save(checkpoint, path)
    assert (
        load_checkpoint(slim_checkpoint(path, tmp_path / "slim2.ckpt"))["state_dict"][
            "model.rnn.1.embedding.bias"
        ].dtype
        == torch.float32
    )


def test_export_averages_the_weights_of_a_list_of_checkpoints_of_one_network(tmp_path):
    sources = [save_untrained(tmp_path / f"m{seed}.ckpt", seed=seed) for seed in (1, 2, 3)]
    states = [load_checkpoint(path)["state_dict"] for path in sources]
    # Batch norm statistics differ between runs: averaged like the weights.
    for i, state in enumerate(states):
        state["model.cnn.7.running_var"] += i
    for path, state in zip(sources, states):
        checkpoint = load_checkpoint(path)
        checkpoint["state_dict"] = state
        torch.save(checkpoint, path)
    names = "[" + ",".join(map(str, sources)) + "]"
    run_entry_point("export.py", f"ckpt_path={names}", "format=fp16", f"output={tmp_path / 'soup.ckpt'}")
    soup = load_checkpoint(tmp_path / "soup.ckpt")["state_dict"]
    for name in ("model.cnn.0.weight", "model.rnn.1.embedding.bias", "model.cnn.7.running_var"):
        mean = sum(state[name].float() for state in states) / 3
        torch.testing.assert_close(soup[name].float(), mean, atol=2e-3, rtol=1e-3)
    assert not torch.equal(soup["model.cnn.0.weight"].float(), states[0]["model.cnn.0.weight"].half().float())
    assert Recognizer.load(tmp_path / "soup.ckpt").read(np.full((32, 50), 200, np.uint8))
    # Another network, another alphabet, no output named, or a source overwritten: refused by name.
    save_untrained(tmp_path / "wide.ckpt", headNorm=True)
    save_untrained(tmp_path / "abc.ckpt", alphabet="abc")
    with pytest.raises(ValueError, match=r"cannot average .*wide.ckpt with .*m1.ckpt: other networks"):
        average_checkpoints([sources[0], tmp_path / "wide.ckpt"], tmp_path / "x.ckpt")
    with pytest.raises(ValueError, match=r"cannot average .*abc.ckpt with .*m1.ckpt: their alphabets differ"):
        average_checkpoints([sources[0], tmp_path / "abc.ckpt"], tmp_path / "x.ckpt")
    with pytest.raises(AssertionError, match="name the file to write, output=FILE"):
        run_entry_point("export.py", f"ckpt_path={names}", "format=onnx")
    with pytest.raises(AssertionError, match=r"would overwrite the checkpoint"):
        run_entry_point("export.py", f"ckpt_path={names}", "format=fp16", f"output={sources[1]}")
    assert not (tmp_path / "x.ckpt").exists()


def test_resuming_with_another_alphabet_or_shape_says_what_differs(train_cfg, tmp_path):
    train(train_cfg("trainer.max_epochs=1", "test=false"))
    alphabet = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["hyper_parameters"]["alphabet"]
    overrides = ("ckpt_path=last", "trainer.max_epochs=2", "test=false")

    def resumed_with(alphabet: str):
        cfg = train_cfg(*overrides)
        cfg.model.alphabet = alphabet
        return cfg

    with pytest.raises(ValueError, match=r"same \d+ characters as model.alphabet in another order \(position 0"):
        train(resumed_with(alphabet[1] + alphabet[0] + alphabet[2:]))
    with pytest.raises(ValueError, match=r"cannot resume: .*only in the checkpoint 'O'"):
        train(resumed_with(alphabet[1:]))
    with pytest.raises(ValueError, match=r"cannot resume: the checkpoint's model has nHidden=32 \(config: 48\)"):
        train(train_cfg("model.nHidden=48", *overrides))


def test_fine_tuning_with_an_alphabet_of_its_own_is_refused(train_cfg, tmp_path):
    checkpoint = save_untrained(tmp_path / "base.ckpt")
    with pytest.raises(ValueError, match=r"init_from=.*another order.*init_extend_alphabet"):
        train(train_cfg(f"init_from={checkpoint}", "model.alphabet='bacdefghijklmnopqrstuvwxyz0123456789'"))


def test_a_checkpoint_from_before_head_norm_is_built_without_it(train_cfg, tmp_path):
    path = tmp_path / "old.ckpt"
    checkpoint = torch.load(save_untrained(path), weights_only=True)
    del checkpoint["hyper_parameters"]["headNorm"]  # as checkpoints were written before it
    torch.save(checkpoint, path)
    cfg = train_cfg(f"init_from={path}", "model.headNorm=true")
    adopt_checkpoint_model(cfg)  # fine-tuning takes the checkpoint's architecture
    assert cfg.model.headNorm is False
    assert isinstance(reader_from_checkpoint(path)[0].net.rnn[1].norm, torch.nn.Identity)
    assert isinstance(model_from_checkpoint(path).model.rnn[1].norm, torch.nn.Identity)


def test_reading_a_checkpoint_builds_its_network_alone_with_the_same_logits(tmp_path):
    path = save_untrained(tmp_path / "m.ckpt", seed=3)
    images = torch.randint(0, 256, (5, 1, 32, 70), dtype=torch.uint8)
    widths = torch.tensor([70, 41, 12, 66, 30])
    module, codec, imgH = reader_from_checkpoint(path)
    with torch.no_grad():
        torch.testing.assert_close(module(images, widths), model_from_checkpoint(path)(images, widths))
    assert (codec.alphabet, imgH) == (load_checkpoint(path)["hyper_parameters"]["alphabet"], 32)
    # predict.py's model loads without Lightning (seconds of imports for a short run).
    code = f"import sys; from ocr import Recognizer; Recognizer.load({str(path)!r}); "
    code += "assert 'pytorch_lightning' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    broken = torch.load(path, weights_only=True)
    broken["hyper_parameters"]["nHidden"] = 32
    torch.save(broken, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match=r"other.ckpt does not describe a model this version builds"):
        reader_from_checkpoint(tmp_path / "other.ckpt")


def test_a_shipped_model_is_read_on_a_cpu_from_its_onnx_export_of_the_same_weights(tmp_path):
    exports = sorted(WEIGHTS.glob("*.onnx"))
    assert DEFAULT_MODEL.with_suffix(".onnx") in exports
    import onnxruntime as ort

    images = torch.randint(0, 256, (4, 1, 32, 90), dtype=torch.uint8)
    widths = torch.tensor([90, 57, 23, 74])
    for path in exports:
        checkpoint = path.with_suffix(".ckpt")
        module, codec, imgH = reader_from_checkpoint(checkpoint)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        assert (meta["alphabet"], int(meta["imgH"])) == (codec.alphabet, imgH), (
            f"{path.name} is not {checkpoint.name}'s"
        )
        (logits,) = session.run(None, {"images": images.numpy(), "widths": widths.numpy()})
        with torch.no_grad():
            expected = module.float()(images, widths)
        torch.testing.assert_close(torch.from_numpy(logits), expected, atol=2e-3, rtol=1e-3)
    # The rule: shipped and on a CPU; a GPU, or a copy elsewhere, reads the checkpoint.
    assert reading_path(DEFAULT_MODEL, "cpu") == DEFAULT_MODEL.with_suffix(".onnx")
    assert reading_path(DEFAULT_MODEL, "cuda") == DEFAULT_MODEL
    (tmp_path / "english.onnx").write_bytes(b"")
    assert reading_path(tmp_path / "english.ckpt", "cpu") == tmp_path / "english.ckpt"
    # So predict.py's default reading imports no torch on a CPU.
    code = "import sys; from ocr import Recognizer; Recognizer.load(device='cpu'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
