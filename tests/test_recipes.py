"""Every egs recipe end to end at tiny size, on the fixture layout of its real corpus (the files the
preparer tests write): prepare -> validate -> tokenizer -> codes and vocoder -> train -> average ->
infer -> score -> RESULTS.md, so that no recipe can rot unseen. The multi-task recipe trains across two
"nodes" (two local torchrun groups over gloo). The GPU configs are instantiated (`laura model info`)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from laura_core.cli import main
from tests.plugins import test_preparers as fixtures

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# recipe: (corpus, fixture writer, preparer options)
CORPORA = {
    "asr": ("librispeech", fixtures.write_librispeech, ""),
    "s2tt": ("covost2", fixtures.write_covost, "src_lang=fr tgt_lang=en"),
    "tts": ("libritts", fixtures.write_libritts, ""),
    "mt": ("parallel_text", None, "src_lang=en tgt_lang=de dev_size=2 test_size=3"),
    "se": ("voicebank_demand", fixtures.write_voicebank, ""),
    "aac": ("clotho", fixtures.write_clotho, ""),
    "ser": ("meld", fixtures.write_meld, ""),
    "slu": ("slurp", fixtures.write_slurp, ""),
}


def write_parallel_text(root: Path) -> Path:
    fixtures.write_text(root / "train.en.txt", "\n".join(fixtures.EN) + "\n")
    fixtures.write_text(root / "train.de.txt", "\n".join(fixtures.DE) + "\n")
    return root


def tiny_conf(path: Path, tasks: list[str]) -> Path:
    """The recipes' configs at test size: the tiny model, two steps."""
    path.write_text(yaml.safe_dump({
        "kind": "lm", "model_size": "tiny", "model": {"tasks": tasks, "text_vocab_size": 512},
        "data": {"max_duration": 4.0, "num_buckets": 2, "endless": True},
        "valid": {"max_duration": 8.0, "num_buckets": 1, "shuffle": False},
        "optim": {"lr": 1e-3, "warmup_steps": 1}, "max_steps": 2, "log_every": 1, "valid_every": 2,
        "save_every": 1, "keep_last": 2,
    }))
    return path


@pytest.fixture(scope="module")
def codec(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("codec") / "tiny"
    assert main(["codec", "export", "laura_codec", str(out), "--size", "tiny"]) == 0
    return out


def recipe(name: str, tmp: Path, codec: Path, *options: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    args = ["bash", str(ROOT / "egs" / name / "run.sh"), "--conf", str(tmp / "conf.yaml"), "--exp", str(tmp / "exp"),
            "--data", str(tmp / "data"), "--vocab", "300", "--average", "2", "--codec", str(codec), *options]
    environ = {**os.environ, "BIN": str(BIN), "VOCODER_STEPS": "2", "OMP_NUM_THREADS": "1",
               "VOCODER_OPTS": "vocoder.size=tiny data.num_buckets=1 valid.num_buckets=1",
               "SCORING": "tts.judge=pocketsphinx se.quality_judge=none", "DECODE": "", **(env or {})}
    return subprocess.Popen(args, env=environ, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kwargs)


def finished(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_a_recipe_runs_end_to_end_on_its_corpus_layout(name, tmp_path, codec):
    corpus, write, options = CORPORA[name]
    source = (write or write_parallel_text)(tmp_path / "corpus")
    tiny_conf(tmp_path / "conf.yaml", [name])
    out = finished(recipe(name, tmp_path, codec, "--corpus", corpus, "--root", str(source),
                          *(["--prepare-opts", options] if options else [])))
    for stage in range(1, 9):
        assert f"stage {stage} " in out or (stage == 4 and name not in ("tts", "se")), stage
    results = json.loads((tmp_path / "exp" / "decode" / "results.json").read_text())
    [(folder, report)] = results.items()
    assert folder == f"{name}/test" and report["metrics"]
    hyps = (tmp_path / "exp" / "decode" / name / "test" / "hyp.jsonl").read_text().splitlines()
    refs = (tmp_path / "exp" / "decode" / name / "test" / "ref.jsonl").read_text().splitlines()
    assert 0 < len(refs) and len(hyps) <= len(refs)
    md = (tmp_path / "exp" / "RESULTS.md").read_text()
    primary = next(iter(report["metrics"]))
    assert f"| {name}/test | {primary} |" in md and "sha256" in md and f"{corpus} at {source}" in md
    assert "wall time" in md and "hardware" in md
    # Run again from stage 5: training resumes at its last step, decoding finds its outputs done.
    again = finished(recipe(name, tmp_path, codec, "--corpus", corpus, "--root", str(source), "--stage", "5"))
    assert "stage 1 " not in again and "stage 5 " in again


def test_the_codec_recipe_trains_releases_and_scores_its_resynthesis(tmp_path, codec):
    source = fixtures.write_libritts(tmp_path / "corpus")
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump({
        "kind": "codec", "codec": {"name": "laura_codec", "size": "tiny"},
        "data": {"segment": 0.2, "max_cuts": 2}, "valid": {"segment": 0.2, "max_cuts": 2, "shuffle": False},
        "optim": {"lr": 1e-3, "warmup_steps": 1}, "max_steps": 2, "log_every": 1, "valid_every": 2, "save_every": 2,
    }))
    out = finished(recipe("codec", tmp_path, codec, "--corpus", "libritts", "--root", str(source)))
    assert all(f"stage {n} " in out for n in range(1, 9))
    assert (tmp_path / "exp" / "release" / "codec.safetensors").is_file()
    report = json.loads((tmp_path / "exp" / "decode" / "results.json").read_text())["se/resynth"]
    assert report["metrics"]["pesq"] >= 1.0 and "| se/resynth | pesq |" in (tmp_path / "exp" / "RESULTS.md").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_multitask_recipe_trains_across_two_nodes(tmp_path, codec):
    """egs/lauragpt on every task's fixture corpus, training as two nodes of one process each (gloo)."""
    data = tmp_path / "data"
    for name, (corpus, write, options) in CORPORA.items():
        source = (write or write_parallel_text)(tmp_path / "corpora" / name)
        args = ["prepare", corpus, str(source), str(data), *options.split()]
        assert main(args) == 0, args
    tiny_conf(tmp_path / "conf.yaml", sorted(CORPORA))
    common = ["--corpus", "prepared", "--nnodes", "2", "--master-port", str(free_port())]
    common += ["--vocab", "400"]  # eight tasks' characters, and 256 bytes
    assert finished(recipe("lauragpt", tmp_path, codec, *common, "--stop-stage", "4")).count("stage") >= 3
    nodes = [recipe("lauragpt", tmp_path, codec, *common, "--stage", "5", "--node-rank", str(rank)) for rank in (0, 1)]
    first, second = (finished(node) for node in nodes)
    assert "stage 8 " in first and "stage 6 " not in second  # node 1 trains only
    log = [json.loads(line) for line in (tmp_path / "exp" / "lm" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("split") == "train" and r.get("step") == 2 for r in log)
    results = json.loads((tmp_path / "exp" / "decode" / "results.json").read_text())
    assert {folder.split("/")[0] for folder in results} == set(CORPORA)


@pytest.mark.parametrize("conf", sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("egs/*/conf/*.yaml")
                                        if p.parents[1].name not in ("mini", "TEMPLATE")))
def test_every_recipe_config_parses_and_builds_its_model(conf, capsys):
    """Every recipe config, the GPU and paper ones included, is a valid training config whose model
    `laura model info` builds (on the meta device: the paper size costs no memory)."""
    from laura_core.config import load_config
    from laura_core.training.config import TrainConfig

    path = ROOT / conf
    cfg = load_config(TrainConfig, path, ["exp_dir=unused"])
    if cfg.kind == "codec":  # the codec it names, built
        from laura_core.registry import get_registry

        codec = get_registry().create("codec", cfg.codec.name, cfg.codec.size, **cfg.codec.options)
        assert codec.n_q >= 1 and sum(p.numel() for p in codec.parameters()) > 0
        return
    assert cfg.kind == "lm" and cfg.model_size and cfg.model.tasks
    raw = yaml.safe_load(path.read_text())["model"]
    size = str(ROOT / cfg.model_size) if cfg.model_size.endswith(".yaml") else cfg.model_size
    assert main(["model", "info", size, *(f"{k}={json.dumps(v)}" for k, v in raw.items())]) == 0, conf
    assert "parameters" in capsys.readouterr().out
