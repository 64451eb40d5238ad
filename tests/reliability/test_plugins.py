"""A broken third-party plugin is named and left out; every other plugin and command still works."""
import importlib

import pytest

from laura_core.cli import main
from laura_core.errors import RegistryError
from laura_core.registry import Registry


def install(tmp_path, monkeypatch, package: str, entry: str, body: str) -> None:
    """An installed package ``package`` 0.3 whose ``laura`` entry point ``entry`` is a module of ``body``."""
    site = tmp_path / "site"
    info = site / f"{package}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[laura]\n{entry} = {package}_mod\n")
    (site / f"{package}_mod.py").write_text(body)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()


def test_an_import_error_names_the_plugin_and_its_package_and_the_rest_loads(tmp_path, monkeypatch, capsys):
    install(tmp_path, monkeypatch, "laura_broken", "broken", "import no_such_module_anywhere\n")
    monkeypatch.setattr("laura_core.registry._WARNED", set())
    registry = Registry()
    err = capsys.readouterr().err
    assert "plugin broken = laura_broken_mod of package laura_broken 0.3 failed to import (ModuleNotFoundError" in err
    assert "asr" in registry.tasks() and registry.broken[0].distribution == "laura_broken 0.3"
    with pytest.raises(RegistryError, match=r"unknown task 'nosuch'.*plugins that failed to import: broken = "):
        registry.task("nosuch")
    # `laura plugins` lists it, and commands that do not need it run.
    monkeypatch.setattr("laura_core.registry.get_registry", lambda: registry)
    assert main(["plugins"]) == 0
    listed = capsys.readouterr().out
    assert "BROKEN" in listed and "laura_broken 0.3" in listed and "No module named 'no_such_module_anywhere'" in listed
    ref = tmp_path / "ref.jsonl"
    ref.write_text('{"id": "a", "text": "hello world"}\n')
    assert main(["score", "--task", "asr", "--ref", str(ref), "--hyp", str(ref)]) == 0


def test_a_hook_that_raises_is_named_with_its_package(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "laura_buggy", "buggy", "from laura_core.hookspecs import hookimpl\n\n@hookimpl\n"
            "def register_tasks(register):\n    raise KeyError('oops')\n")
    with pytest.raises(RegistryError, match=r"plugin buggy \(laura_buggy 0.3\) failed while registering: KeyError"):
        Registry().tasks()
