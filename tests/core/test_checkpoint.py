import logging
import shutil
from pathlib import Path

import pytest
import torch

from laura_core.checkpoint import (
    MANIFEST, STATE, latest_checkpoint, list_checkpoints, load_state, rng_state, save_checkpoint, set_rng_state,
    verify_checkpoint,
)
from laura_core.errors import ConfigError, DataError, LayoutMismatchError
from laura_core.model import MODEL_FILE
from laura_core.train import train
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
        ["config.yaml", "layout.json", MANIFEST, MODEL_FILE, "tokenizer.json", "train.yaml", STATE])
    manifest = verify_checkpoint(last)
    assert manifest["step"] == 4 and MANIFEST not in manifest["files"] and len(manifest["files"]) == 6
    state = load_state(last / STATE)
    assert state["step"] == 4 and set(state) == {"step", "optimizer", "data", "rng"}


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
        raise OSError("disk full")

    with pytest.raises(OSError):
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
