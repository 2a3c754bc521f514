import re
import shlex
from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ocr.config import build_group, compose_config
from ocr.data.datamodule import SynthDataModule
from ocr.data.trdg_compat import trdg_folder
from ocr.devices import trainer_devices
from ocr.models.system import OCRSystem
from ocr.training import build_trainer

from .conftest import ROOT

GROUP_OPTIONS = {
    group: sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))
    for group in ("model", "callbacks", "logger", "trainer", "experiment", "debug")
}


@pytest.mark.parametrize("model", GROUP_OPTIONS["model"])
def test_every_model_config_instantiates(train_cfg, model):
    system = instantiate(train_cfg(f"model={model}").model)
    assert isinstance(system, OCRSystem)
    assert system.codec.num_classes == len(system.codec.alphabet) + 1


def test_data_config_instantiates_with_the_models_alphabet(train_cfg):
    cfg = train_cfg()
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, SynthDataModule)
    assert datamodule.alphabet == cfg.model.alphabet and datamodule.imgH == cfg.model.imgH


@pytest.mark.parametrize("callbacks", GROUP_OPTIONS["callbacks"])
def test_every_callbacks_config_instantiates(train_cfg, callbacks):
    objects = build_group(train_cfg(f"callbacks={callbacks}").callbacks)
    assert all(isinstance(c, pl.Callback) for c in objects)
    assert len(objects) == {"default": 7, "benchmark": 2, "none": 0}.get(callbacks, 1)


@pytest.mark.parametrize("logger", GROUP_OPTIONS["logger"])
def test_every_logger_config_instantiates_inside_the_run_directory(train_cfg, tmp_path, logger):
    loggers = build_group(train_cfg(f"logger={logger}").logger)
    assert len(loggers) == {"default": 2, "none": 0}.get(logger, 1)
    assert all(Path(lg.log_dir).is_relative_to(tmp_path) for lg in loggers)


@pytest.mark.parametrize("trainer", [t for t in GROUP_OPTIONS["trainer"] if t != "ddp"])
def test_cpu_trainer_configs_build_a_trainer(train_cfg, trainer):
    built = build_trainer(train_cfg(f"trainer={trainer}", "trainer.gpus=0").trainer, [], [])
    assert isinstance(built.accelerator, pl.accelerators.CPUAccelerator)


def test_ddp_preset_asks_for_two_gpus_with_synchronised_batch_norm(tmp_path):
    node = OmegaConf.to_container(compose_config("train", ["trainer=ddp"], tmp_path).trainer, resolve=True)
    resolved = trainer_devices(node, cuda_devices=2)
    assert (resolved["accelerator"], resolved["devices"], resolved["strategy"]) == ("gpu", 2, "ddp")
    assert resolved["sync_batchnorm"] is True and "gpus" not in resolved
    with pytest.raises(ValueError, match=r"trainer.gpus=2 but this machine has 1"):
        trainer_devices(node, cuda_devices=1)


@pytest.mark.parametrize("experiment", GROUP_OPTIONS["experiment"])
def test_every_experiment_builds_its_model_and_data(train_cfg, tmp_path, experiment):
    photos = f"data.style.photos=[{trdg_folder('images')}]"  # `make photos` fetches the default ones
    labelled = tmp_path / "real"  # a folder of labelled images, as data=mix checks when built
    labelled.mkdir()
    (labelled / "gt.txt").touch()
    needs = {  # the folders a user names
        "finetune": ["data.root=."],
        "english_mix": [f"data.real_roots=[{labelled}]", photos],
        "english_photo": [photos],
        "english_fonts": [photos],
    }
    cfg = train_cfg(f"experiment={experiment}", *needs.get(experiment, []))
    model, datamodule = instantiate(cfg.model), instantiate(cfg.data)
    assert isinstance(model, OCRSystem) and datamodule.alphabet == model.codec.alphabet
    assert cfg.trainer.max_epochs >= 1 and model.hparams.imgH == datamodule.imgH


def test_english_fonts_is_the_look_the_shipped_english_model_last_trained_on(tmp_path, cache_dir):
    from ocr.data.render import Style

    shipped = OmegaConf.load(ROOT / "ocr/weights/english.yaml")
    cfg = compose_config("train", ["experiment=english_fonts", "model=crnn_small"], tmp_path, cache_dir)
    keys = "texts case word_lengths word_frequencies frequency_exponent max_word_length capitals font_draw stream fresh"
    for key in keys.split():
        assert cfg.data[key] == shipped.data[key], key
    look, shipped_look = (OmegaConf.to_container(c.data.style) for c in (cfg, shipped))
    # Looks added since the model was trained are absent from its config: it drew them as
    # their defaults do.
    added = look.keys() - shipped_look.keys()
    assert {key: look[key] for key in added} == {key: getattr(Style, key) for key in added}
    assert {**look, "photos": None} == {**shipped_look, **{key: look[key] for key in added}, "photos": None}
    # By name: the shipped config's folders resolve against the project they are read in.
    shipped_fonts = OmegaConf.to_container(shipped.data.fonts, resolve=False)
    assert [Path(f).name for f in cfg.data.fonts] == [Path(f).name for f in shipped_fonts]
    assert cfg.model.augment == shipped.model.augment
    for key in ("channels", "nHidden", "headNorm", "alphabet"):
        assert cfg.model[key] == shipped.model[key], key


def test_seed_experiment_has_the_blogs_hyperparameters(tmp_path, cache_dir):
    cfg = compose_config("train", ["experiment=seed"], tmp_path, cache_dir)
    assert (cfg.data.count, cfg.data.batch_size, cfg.trainer.max_epochs) == (20000, 32, 4)
    assert (cfg.model.nHidden, cfg.model.lr, cfg.trainer.gradient_clip_val) == (256, 1e-3, 0.05)
    assert list(cfg.data.fonts) == ["Roboto-Regular.ttf"]


@pytest.mark.parametrize(
    "gpus, cuda, expected",
    [
        (None, 0, {"accelerator": "cpu", "devices": 1}),
        (None, 4, {"accelerator": "gpu", "devices": 1}),
        (0, 4, {"accelerator": "cpu", "devices": 1}),
        (1, 1, {"accelerator": "gpu", "devices": 1, "strategy": "auto"}),
        (2, 2, {"accelerator": "gpu", "devices": 2, "strategy": "ddp"}),
    ],
)
def test_gpus_maps_onto_lightning_2(gpus, cuda, expected):
    kwargs = trainer_devices(
        {"gpus": gpus, "accelerator": None, "devices": None, "strategy": "auto", "precision": "32-true"},
        cuda_devices=cuda,
    )
    assert {k: kwargs[k] for k in expected} == expected


def test_asking_for_missing_gpus_is_a_clear_error():
    with pytest.raises(ValueError, match=r"trainer.gpus=2 but this machine has 0"):
        trainer_devices({"gpus": 2}, cuda_devices=0)
    with pytest.raises(ValueError, match="either trainer.gpus or"):
        trainer_devices({"gpus": 1, "devices": 2}, cuda_devices=2)
    with pytest.raises(ValueError, match="whole number"):
        trainer_devices({"gpus": -1}, cuda_devices=0)


def test_unknown_config_key_is_refused_by_name(train_cfg):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="nHiden"):
        train_cfg("model.nHiden=3")


def test_slurm_launcher_composes_for_a_multi_node_sweep(tmp_path, cache_dir):
    cfg = compose_config(
        "train",
        ["hydra/launcher=slurm", "trainer=gpu", "trainer.num_nodes=2", "hydra.launcher.partition=gpu"],
        tmp_path,
        cache_dir,
        keep_hydra=True,
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node, launcher.partition) == (2, 1, 1, "gpu")


def readme_commands(script: str) -> list[list[str]]:
    """The overrides of every ``python <script> ...`` line in the README's code blocks."""
    blocks = (ROOT / "README.md").read_text().split("```")[1::2]
    command = re.compile(rf"(?:^|&&)\s*(?:\.venv/bin/)?python {re.escape(script)}(.*)")
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()  # continued lines joined
    found = [command.search(line) for line in lines]
    return [[w for w in shlex.split(m[1], comments=True) if w != "-m"] for m in found if m]


README_COMMANDS = [
    (script, o) for script in ("train", "evaluate", "predict", "export") for o in readme_commands(f"{script}.py")
]


@pytest.mark.parametrize(
    ("script", "overrides"), README_COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_every_command_of_the_readme_composes(tmp_path, cache_dir, script, overrides):
    """A renamed key or option would break a README line silently: each composes, a
    sweep with its first values (unknown keys are refused in composing)."""
    swept = [o.split(",")[0] if "=" in o and "[" not in o else o for o in overrides]
    compose_config(script, swept, tmp_path, cache_dir)
