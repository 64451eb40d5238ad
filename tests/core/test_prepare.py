"""`laura prepare` with toy preparers registered in a test registry, and the real registry's errors."""
from dataclasses import dataclass
from pathlib import Path

import pytest
from lhotse import CutSet

from laura_core import hookimpl
from laura_core.cli import main
from laura_core.interfaces import CorpusPreparer
from laura_core.registry import Registry
from tests.conftest import write_wav
from tests.core.test_cli import laura
from tests.core.test_validate import audio_cut, text_cut, tone


@dataclass
class LinesConfig:
    split: str = "train"


class Lines(CorpusPreparer):
    """mt from SRC/pairs.tsv: one 'source<TAB>translation' a line."""

    def __init__(self, config: LinesConfig):
        self.config = config

    def prepare(self, src, dst):
        pairs = [line.split("\t") for line in (src / "pairs.tsv").read_text().splitlines()]
        cuts = CutSet([text_cut(f"l{i}", a, translation=b) for i, (a, b) in enumerate(pairs)])
        path = dst / "mt" / f"{self.config.split}.jsonl.gz"
        path.parent.mkdir(parents=True)
        cuts.to_file(path)
        return {"mt": {self.config.split: path}}


class Tones(CorpusPreparer):
    """asr from nothing: three 60-second tones."""

    needs_source = False

    def prepare(self, src, dst):
        assert src is None
        cuts = CutSet([audio_cut(write_wav(dst / "audio" / f"t{i}.wav", tone(60.0)), f"t{i}") for i in range(3)])
        path = dst / "asr" / "test.jsonl.gz"
        path.parent.mkdir()
        cuts.to_file(path)
        return {"asr": {"test": path}}


class Toys:
    @hookimpl
    def register_components(self, register):
        register("preparer", "lines", Lines, "mt pairs from a tsv", config=LinesConfig)
        register("preparer", "tones", lambda: Tones(), "three tones")


@pytest.fixture
def toys(monkeypatch):
    registry = Registry(autoload=False)
    registry.add_plugin(Toys(), name="toys")
    monkeypatch.setattr("laura_core.registry.get_registry", lambda: registry)


def test_prepare_runs_a_preparer_with_a_source_and_options(toys, tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "pairs.tsv").write_text("hallo\thello\ndanke\tthanks\n")
    assert main(["prepare", "lines", str(tmp_path / "corpus"), str(tmp_path / "out"), "split=dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TASK", "SPLIT", "CUTS", "HOURS", "MANIFEST"]
    assert lines[1].split() == ["mt", "dev", "2", "0.00", str(tmp_path / "out" / "mt" / "dev.jsonl.gz")]


def test_prepare_runs_a_preparer_without_a_source(toys, tmp_path, capsys):
    assert main(["prepare", "tones", str(tmp_path / "out")]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row == ["asr", "test", "3", "0.05", str(tmp_path / "out" / "asr" / "test.jsonl.gz")]


@pytest.mark.parametrize("args, message", [
    (["lines", "OUT"], "preparer 'lines' takes a source folder and a destination: laura prepare lines SRC DST"),
    (["tones", "SRC", "OUT"], "preparer 'tones' takes only a destination (no SRC): laura prepare tones DST"),
    (["lines", "absent", "OUT"], "source absent not found"),
    (["lines", "SRC", "OUT", "splt=dev"], "splt"),
    (["nope", "OUT"], "unknown preparer 'nope'; registered: lines, tones"),
])
def test_prepare_mistakes_are_one_line_errors(toys, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    Path("SRC").mkdir()
    assert main(["prepare", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("laura: error:") and message in err[0], err
    assert not Path("OUT").exists()


def test_prepare_with_the_installed_registry_then_validate(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "train.tsv").write_text("".join(f"hallo welt {i}\thello world {i}\n" for i in range(40)))
    out = laura("prepare", "parallel_text", "corpus", "data", "src_lang=de", "tgt_lang=en", "dev_size=5", "test_size=5",
                cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {tuple(line.split()[:3]) for line in out.stdout.splitlines()[1:]}
    assert rows == {("mt", "train", "30"), ("mt", "dev", "5"), ("mt", "test", "5")}
    out = laura("validate", "data/mt/train.jsonl.gz", "--task", "mt", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "data/mt/train.jsonl.gz (mt): 30 records checked, 0 bad\n", out.stderr
    out = laura("prepare", "nope", "OUT", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("laura: error: unknown preparer 'nope'; registered: ")
    assert "parallel_text" in out.stderr
