"""Training never loses a checkpoint or a log line, never shares an experiment, and stops cleanly on SIGTERM."""
import json
import os
import signal

import pytest
import torch

from laura_core.cli import main
from laura_core.errors import ConfigError, DataError
from laura_core.lock import LOCK_FILE, output_lock
from laura_core.training.checkpoint import list_checkpoints
from laura_core.training.lm import LanguageModelKind
from laura_core.training.log import read_train_log
from laura_core.training.trainer import Stopped, train
from tests.core.test_train import config, weights

COMMON = ("max_steps=8", "save_every=2", "keep_last=2", "valid_every=0", "log_every=1")


@pytest.fixture(scope="module")
def straight(setup, tmp_path_factory):
    """An uninterrupted run: what every interrupted one must end equal to."""
    return train(config(setup, tmp_path_factory.mktemp("straight"), *COMMON))


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_with_no_checkpoint_that_verifies_is_refused_and_loses_nothing(setup, tmp_path):
    exp = tmp_path / "exp"
    train(config(setup, exp, *COMMON, "max_steps=4"))
    for directory in list_checkpoints(exp / "checkpoints"):
        (directory / "trainer.pt").write_bytes(b"torn")
    log_before = (exp / "log.jsonl").read_text()
    with pytest.raises(DataError, match=r"none of its checkpoints verifies \(step_00000002, step_00000004.*Move them aside"):
        train(config(setup, exp, *COMMON, "resume=true"))
    assert [d.name for d in list_checkpoints(exp / "checkpoints")] == ["step_00000002", "step_00000004"]
    assert (exp / "log.jsonl").read_text() == log_before


def test_a_broken_newest_checkpoint_is_skipped_never_counted_and_the_log_only_grows(setup, tmp_path, straight):
    exp = tmp_path / "exp"
    train(config(setup, exp, *COMMON, "max_steps=4"))
    (exp / "checkpoints" / "step_00000004" / "trainer.pt").write_bytes(b"torn")  # killed while the disk filled
    (exp / "checkpoints" / ".step_00000006.abc").mkdir()  # a temporary folder of a checkpoint being written
    with open(exp / "log.jsonl", "a") as f:
        f.write('{"step": 5, "split": "tr')  # a line torn by the kill
    lines_before = (exp / "log.jsonl").read_text()
    final = train(config(setup, exp, *COMMON, "resume=true"))  # from step 2, the newest that verifies
    assert same_weights(final, straight)
    assert [d.name for d in list_checkpoints(exp / "checkpoints")] == ["step_00000006", "step_00000008"]
    assert not list((exp / "checkpoints").glob(".step_*"))
    assert (exp / "log.jsonl").read_text().startswith(lines_before)  # appended, never rewritten
    steps = [r["step"] for r in read_train_log(exp / "log.jsonl") if r["split"] == "train"]
    assert steps == list(range(1, 9))


def test_pruning_keeps_the_newest_checkpoint_that_verifies(setup, tmp_path):
    from laura_core.training.checkpoint import prune_checkpoints

    exp = tmp_path / "exp"
    train(config(setup, exp, *COMMON, "max_steps=6", "keep_last=0"))
    root = exp / "checkpoints"
    (root / "step_00000006" / "model.safetensors").write_bytes(b"x")  # broken: neither counted nor removed
    deleted = prune_checkpoints(root, keep_last=1)
    assert [d.name for d in deleted] == ["step_00000002"]
    assert [d.name for d in list_checkpoints(root)] == ["step_00000004", "step_00000006"]


def test_two_runs_on_one_experiment_are_refused_naming_the_holder(setup, tmp_path, capsys):
    exp = tmp_path / "exp"
    with output_lock(exp, "laura train"):
        with pytest.raises(ConfigError, match=rf"{exp} is in use by laura train \(pid {os.getpid()} on .*, started"):
            train(config(setup, exp, *COMMON))
        code = main(["train", str(setup), f"exp_dir={exp}", *COMMON])
    assert code == 2 and "is in use by laura train" in capsys.readouterr().err
    assert not (exp / "checkpoints").exists()
    train(config(setup, exp, *COMMON, "max_steps=2"))  # released on exit: the next run goes on
    assert (exp / LOCK_FILE).read_text() == ""


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_line(setup, tmp_path, capsys):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / LOCK_FILE).write_text(json.dumps({"command": "laura train", "pid": 999999, "host": "h", "started": 0}))
    train(config(setup, exp, *COMMON, "max_steps=2"))
    assert "taking over the lock" in capsys.readouterr().err


def test_exp_dir_that_is_a_file_is_one_line(setup, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["train", str(setup), f"exp_dir={tmp_path / 'file'}", *COMMON]) == 2
    assert f"{tmp_path / 'file'} is a file, not a folder" in capsys.readouterr().err


def test_sigterm_finishes_the_step_writes_a_checkpoint_and_resumes_exactly(setup, tmp_path, straight, monkeypatch):
    exp = tmp_path / "exp"
    real_step = LanguageModelKind.step

    def step(self, batch, model, n):
        if n == 2:  # the third step: the signal arrives mid-step
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, batch, model, n)

    monkeypatch.setattr(LanguageModelKind, "step", step)
    with pytest.raises(Stopped, match=r"stopped by SIGTERM after step 3: wrote .*step_00000003; continue with"):
        train(config(setup, exp, *COMMON))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is only there while training
    monkeypatch.setattr(LanguageModelKind, "step", real_step)
    final = train(config(setup, exp, *COMMON, "resume=true"))
    assert same_weights(final, straight)
    assert [r["step"] for r in read_train_log(exp / "log.jsonl") if r["split"] == "train"] == list(range(1, 9))


@pytest.mark.parametrize("error", [
    OSError(28, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\nPytorchStreamWriter failed "
                 "writing file data/0: file write failed"),
])
def test_a_full_disk_is_one_line_and_keeps_earlier_checkpoints(setup, tmp_path, monkeypatch, capsys, error):
    import laura_core.training.checkpoint as checkpoint

    exp = tmp_path / "exp"
    train(config(setup, exp, *COMMON, "max_steps=2"))

    def full(state, path):
        raise error

    monkeypatch.setattr(checkpoint, "save_state", full)
    monkeypatch.setattr("laura_core.training.trainer.save_state", full)
    assert main(["train", str(setup), f"exp_dir={exp}", *COMMON, "max_steps=4", "resume=true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"laura: error: {exp / 'checkpoints'}: cannot write the checkpoint of step 4 (") and \
        "earlier checkpoints are untouched" in err and len(err.strip().splitlines()) == 1
    assert [d.name for d in list_checkpoints(exp / "checkpoints")] == ["step_00000002"]
    assert not list((exp / "checkpoints").glob(".step_*"))


def test_a_failing_validation_keeps_the_steps_it_followed(setup, tmp_path, monkeypatch):
    exp = tmp_path / "exp"

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a metric")

    monkeypatch.setattr("laura_core.training.trainer.evaluate", broken)
    with pytest.raises(RuntimeError, match="a bug in a metric"):
        train(config(setup, exp, *COMMON, "max_steps=4", "save_every=4", "valid_every=4"))
    assert [d.name for d in list_checkpoints(exp / "checkpoints")] == ["step_00000004"]  # written before validating


def test_checkpoints_are_readable_as_plain_folders_are(setup, tmp_path):
    import os

    final = train(config(setup, tmp_path / "exp", *COMMON, "max_steps=2"))
    (tmp_path / "plain").mkdir()
    assert os.stat(final).st_mode & 0o777 == os.stat(tmp_path / "plain").st_mode & 0o777


def test_sigterm_through_the_cli_exits_143_with_where_to_resume(setup, tmp_path, monkeypatch, capsys):
    real_step = LanguageModelKind.step

    def step(self, batch, model, n):
        if n == 1:
            os.kill(os.getpid(), signal.SIGUSR1)
        return real_step(self, batch, model, n)

    monkeypatch.setattr(LanguageModelKind, "step", step)
    assert main(["train", str(setup), f"exp_dir={tmp_path / 'exp'}", *COMMON]) == 143
    err = capsys.readouterr().err
    assert err.startswith("laura: stopped by SIGUSR1 after step 2: wrote ") and "resume=true" in err
