import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from laura_core.errors import ConfigError, LauraError
from laura_core.model.lauragpt import MODEL_FILE
from laura_core.training.checkpoint import list_checkpoints
from laura_core.training.config import OptimConfig, TrainConfig, load_train_config
from laura_core.training.log import read_train_log
from laura_core.training.trainer import learning_rate, train
from tests.core.conftest import manifests

REPO = Path(__file__).resolve().parents[2]
def config(setup: Path, exp_dir: Path, *overrides: str) -> TrainConfig:
    return load_train_config(setup, [f"exp_dir={exp_dir}", *overrides])


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / MODEL_FILE))


def log_records(exp_dir: Path) -> list[dict]:
    return read_train_log(exp_dir / "log.jsonl")


@pytest.fixture(scope="module")
def run30(setup, tmp_path_factory) -> Path:
    exp_dir = tmp_path_factory.mktemp("run30")
    train(config(setup, exp_dir, "max_steps=30", "save_every=10", "log_every=1"))
    return exp_dir


# -- config -------------------------------------------------------------------------------------


def test_model_size_fills_the_model_and_yaml_keys_override_it(setup, tmp_path):
    cfg = config(setup, tmp_path, "model.backbone_conf.num_hidden_layers=1")
    assert cfg.model.backbone_conf["num_hidden_layers"] == 1
    assert cfg.model.backbone_conf["hidden_size"] == 64  # from tiny
    assert cfg.model.tasks == ["aac", "asr", "mt", "s2tt", "se", "ser", "slu", "tts"]


@pytest.mark.parametrize("override, message", [
    ("kind=gan", "kind 'gan': expected one of lm, codec, vocoder"),
    ("kind=codec", "kind codec: set codec.name"),
    ("precision=fp8", "precision 'fp8'"),
    ("freeze=[decoder]", "freeze ['decoder']"),
    ("optim.accum_steps=0", "optim.accum_steps must be at least 1"),
    ("max_stepz=3", "max_stepz"),
])
def test_bad_configs_are_one_line_errors(setup, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        train(config(setup, tmp_path, override))


def test_fp16_trains_with_loss_scaling_and_saves_the_scaler(setup, tmp_path):
    final = train(config(setup, tmp_path, "precision=fp16", "max_steps=2", "valid_every=0"))
    state = torch.load(final / "trainer.pt", weights_only=True)
    assert state["scaler"]["scale"] > 0 and state["step"] == 2
    assert all(torch.isfinite(v).all() for v in weights(final).values())


def test_fsdp_shards_only_the_lm(setup, tmp_path):
    with pytest.raises(ConfigError, match="train a codec with ddp"):
        train(config(setup, tmp_path, "distributed.strategy=fsdp", "kind=codec", "codec.name=laura_codec"))


def test_missing_data_is_a_one_line_error(setup, tmp_path):
    with pytest.raises(LauraError, match="nowhere.jsonl.gz: file not found"):
        train(config(setup, tmp_path, "data.tasks=[{task: asr, manifest: nowhere.jsonl.gz}]"))


def test_schedule_warms_up_then_decays_to_min_lr():
    cfg = OptimConfig(lr=1.0, warmup_steps=4, min_lr=0.1)
    lrs = [learning_rate(s, cfg, 20) for s in range(21)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:])) and lrs[20] == pytest.approx(0.1)
    linear = OptimConfig(lr=1.0, warmup_steps=0, min_lr=0.0, decay="linear")
    assert learning_rate(5, linear, 10) == pytest.approx(0.5)


# -- training -----------------------------------------------------------------------------------


def test_loss_decreases_on_tiny_data(run30):
    train_loss = [r["loss"] for r in log_records(run30) if r["split"] == "train"]
    assert len(train_loss) == 30
    assert np.mean(train_loss[-3:]) < 0.7 * np.mean(train_loss[:3])


def test_log_has_per_task_loss_and_accuracy_and_the_resolved_config_is_written(run30, setup):
    records = log_records(run30)
    train_keys = set().union(*(r for r in records if r["split"] == "train"))
    for task in ("asr", "mt", "tts"):
        assert {f"{task}/loss", f"{task}/acc"} <= train_keys
    assert {"lr", "tokens_per_s", "loss"} <= train_keys
    valid = [r for r in records if r["split"] == "valid"]
    assert [r["step"] for r in valid] == [5, 10, 15, 20, 25, 30]
    assert {"asr/loss", "asr/acc", "mt/loss", "mt/acc"} <= set(valid[0])
    written = load_train_config(run30 / "config.yaml")
    assert written == config(setup, run30, "max_steps=30", "save_every=10", "log_every=1")
    if importlib.util.find_spec("tensorboard"):
        assert list((run30 / "tensorboard").glob("events.out.tfevents.*"))
    assert [p.name for p in list_checkpoints(run30 / "checkpoints")] == ["step_00000020", "step_00000030"]


def test_killed_and_resumed_run_matches_an_uninterrupted_one(setup, tmp_path):
    # 8 steps of 3 batches each cross epoch boundaries; dropout makes the RNG state matter too.
    common = ("optim.accum_steps=3", "max_steps=8", "model.encoder_conf.dropout=0.1")
    straight = train(config(setup, tmp_path / "straight", *common))
    train(config(setup, tmp_path / "resumed", *common, "max_steps=4"))  # "killed" after its step-4 checkpoint
    with open(tmp_path / "resumed" / "log.jsonl", "a") as f:  # and after logging step 6
        f.write(json.dumps({"step": 6, "split": "train", "loss": 1.0}) + "\n")
    resumed = train(config(setup, tmp_path / "resumed", *common, "resume=true"))
    assert resumed.name == straight.name == "step_00000008"
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for run in ("straight", "resumed"):
        assert [r["step"] for r in log_records(tmp_path / run) if r["split"] == "train"] == [2, 4, 6, 8]
    state = torch.load(resumed / "trainer.pt", weights_only=True)
    assert state["data"]["epoch"] > 0


def test_out_of_memory_names_the_batch(setup, tmp_path, monkeypatch):
    from laura_core.model.lauragpt import LauraGPT

    def oom(self, *args):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(LauraGPT, "forward", oom)
    with pytest.raises(LauraError, match=r"out of memory at step 1 on a batch of \d+ items \(.*data.max_duration=4.0"):
        train(config(setup, tmp_path, "max_steps=2"))


def test_cli_trains_end_to_end(setup, tmp_path):
    exp_dir = tmp_path / "exp"
    run = subprocess.run([sys.executable, "-m", "laura_core", "train", str(setup), f"exp_dir={exp_dir}",
                          "max_steps=2", "valid_every=0"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert f"wrote {exp_dir / 'checkpoints' / 'step_00000002'}" in run.stdout
    assert (exp_dir / "config.yaml").is_file() and (exp_dir / "log.jsonl").is_file()
    for option, message in (("kind=vocoder", "kind vocoder: set vocoder.name"), ("max_steps=3", "already holds checkpoints")):
        bad = subprocess.run([sys.executable, "-m", "laura_core", "train", str(setup), f"exp_dir={exp_dir}", option],
                             capture_output=True, text=True, cwd=REPO)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and message in bad.stderr


def test_init_and_freeze_start_parts_from_a_model_and_keep_them_fixed(run30, setup, tmp_path):
    source = run30 / "checkpoints" / "step_00000030" / MODEL_FILE
    final = train(config(setup, tmp_path, "max_steps=2", "valid_every=0", f"init.encoder={source}",
                         f"init.backbone={source}", "freeze=[encoder]", "precision=bf16"))
    before, after = load_file(str(source)), weights(final)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone."))


def test_init_from_a_mismatched_file_is_refused(run30, setup, tmp_path):
    source = run30 / "checkpoints" / "step_00000030" / MODEL_FILE
    with pytest.raises(ConfigError, match="init.encoder .*size mismatch"):
        train(config(setup, tmp_path, f"init.encoder={source}", "model.encoder_conf.d_model=32"))


def test_a_released_backbone_starts_another_run_and_only_with_its_tokenizer(run30, setup, tmp_path, capsys):
    from laura_core.cli import main as cli_main
    from laura_core.io import MANIFEST, sha256_file
    from laura_core.registry import get_registry
    from laura_core.training.lm import LanguageModelKind

    step = run30 / "checkpoints" / "step_00000030"
    release = tmp_path / "gpt"
    assert cli_main(["release", str(step), str(release), "--part", "backbone", "--dtype", "float16"]) == 0
    assert "its backbone alone" in capsys.readouterr().out
    files = {p.name for p in release.iterdir()}
    assert "backbone.safetensors" in files and MODEL_FILE not in files and {"tokenizer.json", "layout.json"} <= files
    full, part = load_file(str(step / MODEL_FILE)), load_file(str(release / "backbone.safetensors"))
    assert set(part) == {k.removeprefix("backbone.") for k in full if k.startswith("backbone.")}
    assert all(v.dtype == torch.float16 for v in part.values())
    kind = LanguageModelKind(config(setup, tmp_path / "run", f"init.backbone={release / 'backbone.safetensors'}"),
                             get_registry())
    start = kind.model.backbone.state_dict()
    assert all(torch.equal(start[key], value.float()) for key, value in part.items())  # float32 again

    tokenizer = json.loads((release / "tokenizer.json").read_text())
    (release / "tokenizer.json").write_text(json.dumps({**tokenizer, "identity": "sentencepiece-0000"}))
    manifest = json.loads((release / MANIFEST).read_text())  # a consistent release made with another tokenizer
    manifest["files"]["tokenizer.json"] = sha256_file(release / "tokenizer.json")
    (release / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="init.backbone .*trained with tokenizer sentencepiece-0000"):
        train(config(setup, tmp_path / "other", f"init.backbone={release / 'backbone.safetensors'}"))
    from laura_core.training.checkpoint import release_checkpoint
    with pytest.raises(ConfigError, match="no weights of a part named 'decoder'"):
        release_checkpoint(step, tmp_path / "none", part="decoder")
    assert not (tmp_path / "none").exists()


def test_the_mini_recipe_configs_load():
    conf = REPO / "egs" / "mini" / "conf"
    cfg = load_train_config(conf / "lauragpt.yaml", ["exp_dir=exp/x"])
    assert (cfg.model.encoder, cfg.model.encoder_conf["checkpoint"], cfg.model.ctc_weight) == ("whisper", "base", 0.3)
    tasks = ["asr", "s2tt", "tts", "mt", "se", "aac", "ser", "slu"]
    assert [t.task for t in cfg.data.tasks] == [t.task for t in cfg.valid.tasks] == tasks
    assert (REPO / cfg.codec.path / "codec.safetensors").is_file()  # the released codec: tts and se learn its codes
    codec = load_train_config(conf / "codec_small.yaml", ["exp_dir=exp/x"])
    assert (codec.kind, codec.codec.name, codec.codec.size, codec.data.max_cuts) == ("codec", "laura_codec", "small", 8)
    freq = load_train_config(conf / "codec_small_freq.yaml", ["exp_dir=exp/x"])  # the released one's
    assert (freq.codec.size, freq.gan.start_step, freq.max_steps) == ("small_freq", -1, 8000)
    vocoder = load_train_config(conf / "vocoder_small.yaml", ["exp_dir=exp/x"])
    assert (vocoder.kind, vocoder.vocoder.name, vocoder.vocoder.size) == ("vocoder", "onestep", "small")
    assert vocoder.codec.path == "egs/mini/pretrained/codec_small_freq"
    text = load_train_config(conf / "gpt_text.yaml", ["exp_dir=exp/x"])  # pretrains lauragpt.yaml's very model
    assert text.model == cfg.model and text.tokenizer == cfg.tokenizer and text.codec == cfg.codec
    assert [t.task for t in text.data.tasks] == ["mt"]
    speech = load_train_config(conf / "gpt_speech.yaml", ["exp_dir=exp/x"])  # the same model, on speech
    assert speech.model == cfg.model and speech.tokenizer == cfg.tokenizer and speech.codec == cfg.codec
    assert [t.task for t in speech.data.tasks] == ["tts", "mt"] and speech.data.prompt == cfg.data.prompt
    more = load_train_config(conf / "vocoder_speech.yaml", ["exp_dir=exp/x"])  # its model, and more speech
    assert (more.vocoder, more.codec, more.tokenizer) == (vocoder.vocoder, vocoder.codec, vocoder.tokenizer)
    assert [t.manifest for t in vocoder.data.tasks] == [t.manifest for t in more.data.tasks][:2]


def test_validation_scores_decoded_samples_with_each_tasks_metrics(setup, tmp_path):
    train(config(setup, tmp_path, "max_steps=2", "valid_every=2", "valid_decode=2", "save_every=2"))
    valid = [r for r in log_records(tmp_path) if r["split"] == "valid"]
    assert len(valid) == 1
    values = valid[0]
    assert 0.0 <= values["asr/wer"] and 0.0 <= values["asr/cer"]  # an untrained model: rates, maybe above 1
    assert 0.0 <= values["mt/bleu"] <= 100.0 and 0.0 <= values["mt/chrf"] <= 100.0
    assert not any(key.startswith("tts/") and key not in ("tts/loss", "tts/acc") for key in values)  # needs the codec


def test_validation_voices_audio_outputs_with_a_vocoder(setup, vocoder_dir, tmp_path):
    tasks = "[" + ", ".join(f"{{task: {t}, manifest: {m}}}" for t, m in manifests(setup).items()) + "]"
    train(config(setup, tmp_path, "max_steps=2", "valid_every=2", "valid_decode=2", "save_every=2",
                 f"valid.tasks={tasks}", f"valid_vocoder={vocoder_dir}"))
    values = [r for r in log_records(tmp_path) if r["split"] == "valid"][0]
    assert 0.0 <= values["tts/wer"] and 0.0 <= values["tts/cer"] and values["tts/mcd"] > 0.0
    assert 0.0 <= values["asr/wer"]  # text tasks as before
    with pytest.raises(ConfigError, match="valid_vocoder voices an LM's codec tokens: it needs kind lm and codec.path"):
        config(setup, tmp_path / "x", "valid_vocoder=somewhere", "codec.path=''", "data.tasks=[]")


def test_matrices_are_decayed_and_biases_and_norm_scales_are_not():
    from torch import nn

    from laura_core.training.trainer import optimizer_groups

    generator = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    discriminator = nn.Linear(2, 1)
    generator[2].weight.requires_grad_(False)  # frozen: left out
    groups = optimizer_groups([{"name": "generator", "params": list(generator.parameters())},
                               {"name": "discriminator", "params": list(discriminator.parameters()),
                                "lr_scale": 2.0, "betas": (0.5, 0.9)}], OptimConfig(weight_decay=0.1))
    summary = [(g["name"], g["weight_decay"], g["lr_scale"], g["betas"], sorted(p.ndim for p in g["params"]))
               for g in groups]
    assert summary == [("generator", 0.1, 1.0, (0.9, 0.98), [2]),
                       ("generator", 0.0, 1.0, (0.9, 0.98), [1, 1, 1, 1]),
                       ("discriminator", 0.1, 2.0, (0.5, 0.9), [2]),
                       ("discriminator", 0.0, 2.0, (0.5, 0.9), [1])]


def test_resuming_with_other_trained_parts_is_refused(setup, tmp_path):
    train(config(setup, tmp_path, "max_steps=2", "save_every=2", "valid_every=0"))
    with pytest.raises(ConfigError, match="optimizer state does not fit this run's parameter groups"):
        train(config(setup, tmp_path, "max_steps=4", "resume=true", "valid_every=0", "freeze=[encoder]"))


def test_validation_decodes_items_drawn_across_the_dev_set_and_logs_unavailable_metrics(setup, tmp_path, monkeypatch):
    import dataclasses

    from laura_core.registry import get_registry

    asr = type(get_registry().task("asr"))
    real, seen = asr.score, []

    def score(self, pairs, options, registry):
        seen.append([p.id for p in pairs])
        result = real(self, pairs, options, registry)
        return dataclasses.replace(result, metrics={**result.metrics, "judge_wer": None})

    monkeypatch.setattr(asr, "score", score)
    for seed in (0, 1):
        train(config(setup, tmp_path / str(seed), "max_steps=2", "valid_every=2", "valid_decode=3", "save_every=2",
                     f"seed={seed}"))
    first, second = seen
    assert len(first) == len(second) == 3 and first != second  # drawn with the run's seed, not the first three
    values = [r for r in log_records(tmp_path / "0") if r["split"] == "valid"][0]
    assert "asr/judge_wer" in values and values["asr/judge_wer"] is None  # logged as unavailable, not dropped


def test_a_plugin_task_trains_beside_a_presets_tasks_with_their_ids_unmoved(setup, tmp_path):
    import json

    from laura_core.model.vocab import VocabLayout

    asr = manifests(setup)["asr"]  # the plugin's lid reads cut.supervisions[0].language: "en" here
    tasks = "[" + ", ".join(f"{{task: {t}, manifest: {m}}}" for t, m in [*manifests(setup).items(), ("lid", asr)]) + "]"
    final = train(config(setup, tmp_path, "max_steps=2", "save_every=2", "valid_every=0", f"data.tasks={tasks}"))
    layout = VocabLayout.from_dict(json.loads((final / "layout.json").read_text()))
    preset = VocabLayout.create(layout.text_size, ["aac", "asr", "mt", "s2tt", "se", "ser", "slu", "tts"],
                                layout.codec_size)
    assert layout.tasks[-1] == "lid" and all(layout.task_id(t) == preset.task_id(t) for t in preset.tasks)
    with pytest.raises(ConfigError, match=r"data.tasks names nosuch, which no installed plugin registers \(`laura tasks`"):
        train(config(setup, tmp_path / "x", "max_steps=1", "data.tasks=[{task: nosuch, manifest: " + asr + "}]"))

