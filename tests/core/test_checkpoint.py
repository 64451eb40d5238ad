import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from safetensors.torch import load_file

from laura_core.training.checkpoint import (
    STATE, Score, average_checkpoints, best_checkpoints, latest_checkpoint, list_checkpoints,
    load_state, read_best, record_best, rng_state, save_checkpoint, set_rng_state,
)
from laura_core.cli import main as cli_main
from laura_core.errors import ConfigError, DataError, LauraError, LayoutMismatchError
from laura_core.io import MANIFEST, sha256_file, verify_checkpoint
from laura_core.model.lauragpt import MODEL_FILE, load_model
from laura_core.training.trainer import train
from tests.core.conftest import SENTENCES
from tests.core.test_train import config


@pytest.fixture(scope="module")
def trained(setup, tmp_path_factory) -> Path:  # noqa: F811
    exp_dir = tmp_path_factory.mktemp("ckpt")
    train(config(setup, exp_dir, "max_steps=4", "save_every=2", "valid_every=0", "keep_last=0"))
    return exp_dir


def copy_of(trained: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "exp"))


def test_a_checkpoint_holds_a_model_trainer_state_and_hashes(trained):
    last = list_checkpoints(trained / "checkpoints")[-1]
    assert sorted(p.name for p in last.iterdir()) == sorted(
        ["codec.json", "config.yaml", "layout.json", MANIFEST, MODEL_FILE, "tokenizer.json", "train.yaml", STATE])
    manifest = verify_checkpoint(last)
    assert manifest["step"] == 4 and MANIFEST not in manifest["files"] and len(manifest["files"]) == 7
    assert json.loads((last / "codec.json").read_text())["identity"].startswith("laura_codec-")
    state = load_state(last / STATE)
    assert state["step"] == 4 and set(state) == {"step", "optimizer", "data", "rng", "scaler"}


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_file_is_named_and_never_loaded(trained, tmp_path, damage):
    exp_dir = copy_of(trained, tmp_path)
    last = list_checkpoints(exp_dir / "checkpoints")[-1]
    path = last / (STATE if damage == "delete" else MODEL_FILE)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    else:
        path.unlink()
    with pytest.raises(DataError, match=f"{path.name}: (corrupt or truncated|missing from the checkpoint)"):
        verify_checkpoint(last)


def test_resume_skips_a_broken_newest_checkpoint_and_an_unfinished_one(trained, tmp_path, caplog):
    exp_dir = copy_of(trained, tmp_path)
    root = exp_dir / "checkpoints"
    step2, step4 = list_checkpoints(root)
    (step4 / MODEL_FILE).write_bytes(b"garbage")
    shutil.copytree(step2, root / ".step_00000006.tmp")  # a save that was killed before its rename
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(root) == step2
    assert "model.safetensors: corrupt or truncated" in caplog.text
    final = train(config(setup_path(trained), exp_dir, "max_steps=4", "save_every=2", "valid_every=0",
                         "keep_last=0", "resume=true"))
    assert final.name == "step_00000004" and verify_checkpoint(final)["step"] == 4


def test_a_checkpoint_of_another_layout_is_refused(trained, tmp_path):
    exp_dir = copy_of(trained, tmp_path)
    cfg = config(setup_path(trained), exp_dir, "resume=true", "max_steps=6", "model.tasks=[asr,mt,tts]")
    with pytest.raises(LayoutMismatchError, match=r"tasks: expected \('asr', 'mt', 'tts'\), .*layout.json has \('aac'"):
        train(cfg)


def test_a_checkpoint_of_another_codec_is_refused(trained, tmp_path):
    exp_dir = copy_of(trained, tmp_path)
    other = tmp_path / "other_codec"
    assert cli_main(["codec", "export", "laura_codec", str(other), "--size", "tiny", "--seed", "1"]) == 0
    cfg = config(setup_path(trained), exp_dir, "resume=true", "max_steps=6", f"codec.path={other}")
    # The manifests' codes are not the other codec's either; the checkpoint is checked first.
    with pytest.raises(ConfigError, match=r"codec mismatch: the config's codec is laura_codec-\w+, "
                                          r".*codec.json has laura_codec-\w+"):
        train(cfg)


def test_a_checkpoint_of_another_tokenizer_is_refused(trained, tmp_path, registry):
    exp_dir = copy_of(trained, tmp_path)
    trainer = registry.component("tokenizer", "sentencepiece").obj.train
    other = trainer(SENTENCES[:4], tmp_path / "sp", vocab_size=40)
    cfg = config(setup_path(trained), exp_dir, "resume=true", "max_steps=6", f"tokenizer.options.model={other}")
    with pytest.raises(ConfigError, match=r"tokenizer mismatch: the config's is sentencepiece:tokenizer.model:\w+, "
                                          r".*tokenizer.json has sentencepiece:tokenizer.model:\w+"):
        train(cfg)


def test_keep_last_prunes_old_checkpoints(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (1, 2, 3, 4):
        save_checkpoint(root, step, lambda d: (d / "x.txt").write_text(str(step)), keep_last=2)
    assert [p.name for p in list_checkpoints(root)] == ["step_00000003", "step_00000004"]
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    def write(directory: Path) -> None:
        (directory / "x.txt").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(LauraError, match=r"cannot write the checkpoint of step 1 \(No space left on device\)"):
        save_checkpoint(tmp_path, 1, write)
    assert list(tmp_path.iterdir()) == []


def test_rng_states_round_trip_through_a_weights_only_load(tmp_path):
    import random

    import numpy as np

    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1))
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def setup_path(exp_dir: Path) -> Path:
    """The training YAML a run was started from (its ``exp_dir/config.yaml`` holds the same values)."""
    return exp_dir / "config.yaml"


# -- best checkpoints and averaging -------------------------------------------------------------


def test_best_json_ranks_by_the_metric_and_pruning_keeps_last_and_best(tmp_path):
    root = tmp_path / "checkpoints"
    losses = {1: 3.0, 2: 1.0, 3: 2.0, 4: 0.5, 5: 4.0, 6: 5.0}
    for step, loss in losses.items():
        save_checkpoint(root, step, lambda d: (d / "x.txt").write_text("x"), keep_last=2, keep_best=2,
                        score=Score("valid/loss", "min", loss))
    best = read_best(root)
    assert (best["metric"], best["mode"]) == ("valid/loss", "min")
    assert [e["step"] for e in best["entries"]] == [4, 2, 5, 6]  # ranked; the pruned 1 and 3 are forgotten
    assert [p.name for p in list_checkpoints(root)] == ["step_00000002", "step_00000004", "step_00000005",
                                                          "step_00000006"]
    assert [p.name for p in best_checkpoints(root)][:2] == ["step_00000004", "step_00000002"]
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # best.json is written atomically too
    with pytest.raises(ConfigError, match="ranks checkpoints by valid/loss \\(min\\), not valid/asr/acc \\(max\\)"):
        record_best(root, 7, Score("valid/asr/acc", "max", 0.9))

    higher = tmp_path / "higher"
    for step, acc in ((1, 0.2), (2, 0.9), (3, 0.1), (4, 0.5)):
        save_checkpoint(higher, step, lambda d: (d / "x.txt").write_text("x"), keep_last=1, keep_best=1,
                        score=Score("valid/asr/acc", "max", acc))
    assert [p.name for p in list_checkpoints(higher)] == ["step_00000002", "step_00000004"]


@pytest.fixture(scope="module")
def ranked(setup, tmp_path_factory) -> Path:
    """8 steps validated every 2, ranked by the highest valid loss (so the best are not simply the newest),
    keeping the last 1 and the best 2, killed at step 4 and resumed."""
    exp_dir = tmp_path_factory.mktemp("ranked")
    common = ("valid_every=2", "save_every=100", "keep_last=1", "keep_best=2", "best_mode=max")
    train(config(setup, exp_dir, *common, "max_steps=4"))
    train(config(setup_path(exp_dir), exp_dir, *common, "max_steps=8", "resume=true"))
    return exp_dir


def test_training_keeps_exactly_the_last_and_the_best_checkpoints(ranked):
    root = ranked / "checkpoints"
    valid = {}
    for line in (ranked / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["split"] == "valid":
            valid[record["step"]] = record["loss"]
    assert sorted(valid) == [2, 4, 6, 8]
    top2 = sorted(valid, key=lambda s: (-valid[s], -s))[:2]
    kept = sorted({8, *top2})
    assert [p.name for p in list_checkpoints(root)] == [f"step_{s:08d}" for s in kept]
    best = read_best(root)
    assert (best["metric"], best["mode"]) == ("valid/loss", "max")
    assert [e["step"] for e in best["entries"]][:2] == top2
    assert all(e["value"] == pytest.approx(valid[e["step"]]) for e in best["entries"])
    for directory in list_checkpoints(root):
        verify_checkpoint(directory)


def test_keep_best_needs_validation_and_a_known_metric(setup, tmp_path):
    with pytest.raises(ConfigError, match="keep_best needs validation"):
        config(setup, tmp_path, "keep_best=2", "valid_every=0")
    with pytest.raises(ConfigError, match="best_mode 'lowest'"):
        config(setup, tmp_path, "best_mode=lowest")
    with pytest.raises(ConfigError, match="best_metric 'valid/tts/loss' is not among the validation values"):
        train(config(setup, tmp_path, "keep_best=1", "valid_every=1", "max_steps=1", "best_metric=valid/tts/loss"))


def test_averaging_two_checkpoints_gives_the_mean_of_their_weights(trained, tmp_path, registry):
    step2, step4 = list_checkpoints(trained / "checkpoints")
    out = tmp_path / "avg"
    assert cli_main(["average", str(trained), str(out), "--last", "2"]) == 0
    a, b, mean = (load_file(str(d / MODEL_FILE)) for d in (step2, step4, out))
    assert mean.keys() == a.keys()
    for key in a:
        if a[key].is_floating_point():
            assert torch.allclose(mean[key], (a[key] + b[key]) / 2), key
        else:
            assert torch.equal(mean[key], b[key]), key
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the average is not one of them
    model, _ = load_model(out, registry)
    state = model.state_dict()
    assert all(torch.equal(state[k], mean[k]) for k in mean)
    assert (out / "tokenizer.json").read_text() == (step4 / "tokenizer.json").read_text()


def test_averaging_the_best_picks_them_from_best_json(ranked, tmp_path, registry):
    root = ranked / "checkpoints"
    first, second = [root / f"step_{e['step']:08d}" for e in read_best(root)["entries"][:2]]
    chosen = average_checkpoints(ranked, tmp_path / "avg", registry, best=2)
    assert sorted(chosen) == sorted([first, second])
    a, b, mean = (load_file(str(d / MODEL_FILE)) for d in (first, second, tmp_path / "avg"))
    assert all(torch.allclose(mean[k], (a[k] + b[k]) / 2) for k in a if a[k].is_floating_point())
    load_model(tmp_path / "avg", registry)
    with pytest.raises(DataError, match=rf"5 checkpoints to average, but only {len(best_checkpoints(root))} "):
        average_checkpoints(ranked, tmp_path / "avg5", registry, best=5)


def test_averaging_refuses_a_corrupt_checkpoint_or_another_layout(trained, tmp_path, capsys):
    exp_dir = copy_of(trained, tmp_path)
    step2, step4 = list_checkpoints(exp_dir / "checkpoints")
    data = (step2 / MODEL_FILE).read_bytes()
    (step2 / MODEL_FILE).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert cli_main(["average", str(exp_dir), str(tmp_path / "avg"), "--last", "2"]) == 2
    assert "model.safetensors: corrupt or truncated" in capsys.readouterr().err
    assert not (tmp_path / "avg").exists()

    (step2 / MODEL_FILE).write_bytes(data)
    layout = json.loads((step2 / "layout.json").read_text())
    layout["tasks"] = layout["tasks"][:-1]
    (step2 / "layout.json").write_text(json.dumps(layout))
    manifest = json.loads((step2 / MANIFEST).read_text())  # a consistent checkpoint of another layout
    manifest["files"]["layout.json"] = sha256_file(step2 / "layout.json")
    (step2 / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(LayoutMismatchError, match="tasks: expected"):
        average_checkpoints(exp_dir, tmp_path / "avg", None, last=2)


def test_a_released_checkpoint_is_the_model_without_its_trainer_state(trained, tmp_path, registry, capsys):
    from laura_core.inference.infer import load_inference_model

    last = list_checkpoints(copy_of(trained, tmp_path) / "checkpoints")[-1]
    out = tmp_path / "released"
    assert cli_main(["release", str(last), str(out)]) == 0
    assert STATE not in {p.name for p in out.iterdir()}
    assert set(verify_checkpoint(out)["files"]) == set(verify_checkpoint(last)["files"]) - {STATE}
    assert load_file(str(out / MODEL_FILE)).keys() == load_file(str(last / MODEL_FILE)).keys()
    assert load_inference_model(out, registry).weights == load_inference_model(last, registry).weights
    again = tmp_path / "again"
    cli_main(["release", str(last), str(again)])
    assert all((out / n).read_bytes() == (again / n).read_bytes() for n in verify_checkpoint(out)["files"])
    assert cli_main(["release", str(last), str(out)]) != 0 and "exists: remove it first" in capsys.readouterr().err
    half = tmp_path / "half"  # float16 weights: half the bytes, loaded back into the model's float32
    assert cli_main(["release", str(last), str(half), "--dtype", "float16"]) == 0
    full, halved = load_file(str(last / MODEL_FILE)), load_file(str(half / MODEL_FILE))
    assert {v.dtype for k, v in halved.items() if full[k].is_floating_point()} == {torch.float16}
    assert (half / MODEL_FILE).stat().st_size < 0.6 * (last / MODEL_FILE).stat().st_size
    loaded = {k: v for k, v in load_inference_model(half, registry).model.state_dict().items()
              if k in full and full[k].is_floating_point()}
    assert len(loaded) > 10  # the model's weights, each float32 again and equal to its float16 rounding
    for name, value in loaded.items():
        assert value.dtype == full[name].dtype
        torch.testing.assert_close(value, full[name].to(torch.float16).to(value.dtype))
    (last / MODEL_FILE).write_bytes(b"broken")
    assert cli_main(["release", str(last), str(tmp_path / "third")]) != 0
    assert "corrupt or truncated" in capsys.readouterr().err and not (tmp_path / "third").exists()
