"""Composed configs to objects: building a node, a group of them, and composing a config
outside of ``@hydra.main`` (tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"


def register_resolvers() -> None:
    """``${words_alphabet:<words file>}``: the characters of a word list (``conf/charset/words.yaml``)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("words_alphabet"):
        from ocr.data.words import alphabet_of

        OmegaConf.register_new_resolver("words_alphabet", alphabet_of, use_cache=True)


def build(node: DictConfig, **kwargs) -> Any:
    """``hydra.utils.instantiate``, but a wrong value (ValueError) or a missing file
    (OSError) raised while building comes out as itself: its message names the option,
    and Hydra's wrapping would bury it."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, (ValueError, OSError)):
            raise err.__cause__ from None
        raise


def build_group(cfg: DictConfig | None) -> list[Any]:
    """Objects of a config group whose entries each have a ``_target_`` (callbacks, loggers)."""
    if not cfg:
        return []
    return [build(node) for node in cfg.values() if isinstance(node, DictConfig) and "_target_" in node]


def explicit_override(key: str) -> bool:
    """Whether ``key`` was set on the command line (or in a test's overrides)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return False
    return any(o.lstrip("+~").split("=", 1)[0] == key for o in HydraConfig.get().overrides.task)


def compose_config(
    name: str,
    overrides: list[str],
    output_dir: str | Path,
    cache_dir: str | Path | None = None,
    keep_hydra: bool = False,
) -> DictConfig:
    """Compose ``conf/<name>.yaml`` as an entry point would, outside of ``@hydra.main``
    (tests, benchmarks), with outputs in ``output_dir``; ``keep_hydra`` keeps the
    ``hydra`` node (launcher and sweep settings) that an entry point does not see."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
    with open_dict(cfg):
        if not keep_hydra:
            del cfg.hydra
        cfg.paths.output_dir = str(output_dir)
        if cache_dir is not None:
            cfg.paths.cache_dir = str(cache_dir)
    return cfg


def known_keys(name: str) -> list[str]:
    """Every key of ``conf/<name>.yaml`` as composed by default, as dotted paths."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(name)
    keys: list[str] = []

    def walk(node: DictConfig, prefix: str) -> None:
        for key in node.keys():
            path = f"{prefix}{key}"
            keys.append(path)
            child = node._get_node(key)
            if isinstance(child, DictConfig):
                walk(child, path + ".")

    walk(cfg, "")
    return keys
