"""`laura new task`: the generated package installs from outside the repository and its own test,
which walks data -> validate -> tokenizer -> train -> infer -> score with the laura commands, passes."""
import os
import subprocess
import sys

import pytest

from laura_core.cli import main


def install_and_test(tmp_path, package, passed):
    """Install the generated ``package`` from outside the repository, then run its own tests."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True)
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package)], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"{passed} passed" in done.stdout
    return env


def generate_install_and_test(tmp_path, name, input, output):
    assert main(["new", "task", name, "--input", input, "--output", output, "--out", str(tmp_path)]) == 0
    env = install_and_test(tmp_path, tmp_path / f"laura-task-{name}", 1)
    listed = subprocess.run([sys.executable, "-m", "laura_core", "tasks", "show", name], env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0 and f"<|{name}|>" in listed.stdout


def test_a_generated_audio_to_text_task_trains_decodes_and_scores_as_generated(tmp_path):
    generate_install_and_test(tmp_path, "keyword", "audio", "text")


@pytest.mark.slow
@pytest.mark.parametrize("input", ["audio", "text"])
def test_generated_codec_output_tasks_pass_too(tmp_path, input):
    generate_install_and_test(tmp_path, f"speak_{input}", input, "codec")


def test_bad_names_and_existing_folders_are_refused(tmp_path, capsys):
    assert main(["new", "task", "Bad-Name", "--input", "audio", "--output", "text", "--out", str(tmp_path)]) == 2
    assert "lowercase letters" in capsys.readouterr().err
    (tmp_path / "laura-task-x").mkdir()
    assert main(["new", "task", "x", "--input", "audio", "--output", "text", "--out", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "task"), [("sentence_match", "asr"), ("length_error", "se")])
def test_a_generated_metric_is_scored_for_its_task_as_generated(tmp_path, name, task):
    """Text outputs: `laura score` gives it beside the task's own metrics; audio outputs: it scores
    pairs whose answer is known. Both: `laura plugins` lists it."""
    assert main(["new", "metric", name, "--task", task, "--out", str(tmp_path)]) == 0
    install_and_test(tmp_path, tmp_path / f"laura-metric-{name}", 2)


def test_metric_names_and_tasks_are_checked(tmp_path, capsys):
    assert main(["new", "metric", "wer", "--task", "asr", "--out", str(tmp_path)]) == 2
    assert "asr already has a metric 'wer'" in capsys.readouterr().err
    assert main(["new", "metric", "anything", "--task", "nosuchtask", "--out", str(tmp_path)]) == 2
    assert "unknown task 'nosuchtask'" in capsys.readouterr().err
