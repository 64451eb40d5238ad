"""Typed configs: OmegaConf structured configs built from dataclasses.

YAML files and ``key=value`` overrides merge onto the dataclass defaults; an unknown key or a
value of the wrong type is a ``ConfigError`` that names the key. The resolved config is saved next
to every output.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from laura_core.errors import ConfigError
from laura_core.io import atomic_write_text

T = TypeVar("T")


def load_config(
    schema: type[T], yaml_path: str | Path | None = None, overrides: Sequence[str] = (), values: dict | None = None
) -> T:
    """Build a ``schema`` instance from its defaults, an optional YAML file, a dict of ``values`` and
    ``key=value`` overrides, merged in that order."""
    try:
        cfg = OmegaConf.structured(schema)
        if yaml_path is not None:
            path = Path(yaml_path)
            if not path.is_file():
                raise ConfigError(f"config file not found: {path}")
            cfg = OmegaConf.merge(cfg, OmegaConf.load(path))
        if values:
            cfg = OmegaConf.merge(cfg, OmegaConf.create(values))
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not of the form key=value")
        if overrides:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or getattr(e, "key", None)
        msg = str(e).splitlines()[0]
        where = f" (key {key!r})" if key else ""
        raise ConfigError(f"{schema.__name__} config{where}: {msg}") from None


def options_from_dotlist(items: Sequence[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``, values typed as YAML reads them."""
    for item in items:
        if "=" not in item:
            raise ConfigError(f"option {item!r} is not of the form key=value")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(list(items)))
    except OmegaConfBaseException as e:
        raise ConfigError(f"options {list(items)}: {str(e).splitlines()[0]}") from None


def to_yaml(cfg: Any) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg) if dataclasses.is_dataclass(cfg) else cfg)


def to_dict(cfg: Any) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically) and return its path."""
    return atomic_write_text(path, to_yaml(cfg))
