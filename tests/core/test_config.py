from dataclasses import dataclass, field

import pytest
import yaml

from laura_core.config import load_config, save_config
from laura_core.errors import ConfigError


@dataclass
class Inner:
    rate: int = 16000
    name: str = "x"


@dataclass
class Outer:
    flag: bool = True
    inner: Inner = field(default_factory=Inner)


def test_defaults_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  rate: 8000\n  name: y\n")
    cfg = load_config(Outer, path, ["inner.name=z", "flag=false"])
    assert cfg == Outer(flag=False, inner=Inner(rate=8000, name="z"))
    saved = save_config(cfg, tmp_path / "out" / "config.yaml")
    assert yaml.safe_load(saved.read_text()) == {"flag": False, "inner": {"rate": 8000, "name": "z"}}


@pytest.mark.parametrize(
    "overrides, key",
    [(["inner.rte=1"], "inner.rte"), (["inner.rate=fast"], "inner.rate"), (["flag=maybe"], "flag")],
)
def test_unknown_key_or_wrong_type_names_the_key(overrides, key):
    with pytest.raises(ConfigError) as e:
        load_config(Outer, None, overrides)
    assert key in str(e.value)


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        load_config(Outer, None, ["flag"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, tmp_path / "none.yaml")


def test_options_from_dotlist_types_values_and_rejects_malformed_items():
    from laura_core.config import options_from_dotlist

    assert options_from_dotlist(["a.b=1", "c=bpe", "d=[1, 2]", "e=true"]) == {"a": {"b": 1}, "c": "bpe", "d": [1, 2], "e": True}
    with pytest.raises(ConfigError, match="'model_type' is not of the form key=value"):
        options_from_dotlist(["model_type"])
