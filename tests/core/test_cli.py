import json
import subprocess
import sys

from tests.conftest import write_jsonl


def laura(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "laura_core", *args], capture_output=True, text=True, cwd=cwd)


def test_plugins_lists_every_task_with_its_distribution():
    out = laura("plugins")
    assert out.returncode == 0, out.stderr
    rows = {tuple(line.split()[:3]) for line in out.stdout.splitlines()[1:]}
    for task in ("asr", "s2tt", "tts", "mt", "se", "aac", "ser", "slu"):
        assert ("task", task, "laura-speech") in rows
    assert ("task", "lid", "laura-example-plugin") in rows
    listed = json.loads(laura("plugins", "--json").stdout)
    assert {"kind": "judge", "name": "lookup", "source": "example", "distribution": "laura-example-plugin 0.0.1",
            "description": "test judge: transcripts looked up by audio hash"} in listed


def test_external_task_scores_through_the_cli(tmp_path):
    """tests/plugin_pkg adds task 'lid' through the entry-point group, with no change to the core."""
    write_jsonl(tmp_path / "ref.jsonl", [{"id": f"u{i}", "text": lang} for i, lang in enumerate("en es fr cs".split())])
    write_jsonl(tmp_path / "hyp.jsonl", [{"id": f"u{i}", "text": lang} for i, lang in enumerate("en es en cs".split())])
    out = laura("score", "--task", "lid", "--ref", "ref.jsonl", "--hyp", "hyp.jsonl", "--json", "out/lid.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "accuracy  0.7500" in out.stdout
    result = json.loads((tmp_path / "out" / "lid.json").read_text())
    assert result["task"] == "lid" and result["n"] == 4 and result["metrics"] == {"accuracy": 0.75}


def test_user_mistakes_are_one_line_errors(tmp_path):
    write_jsonl(tmp_path / "ref.jsonl", [{"id": "u1", "text": "a"}])
    (tmp_path / "hyp.jsonl").write_text('{"id": "u1", "text": "a"}\n{"id": \n')
    cases = [
        (["score", "--task", "nope", "--ref", "ref.jsonl", "--hyp", "hyp.jsonl"], "unknown task 'nope'"),
        (["score", "--task", "asr", "--ref", "ref.jsonl", "--hyp", "hyp.jsonl"], "hyp.jsonl:2: malformed JSON"),
        (["score", "--task", "asr", "--ref", "ref.jsonl", "--hyp", "ref.jsonl", "normalizer.lowercse=true"], "normalizer.lowercse"),
        (["score", "--task", "asr", "--ref", "ref.jsonl"], "score needs --hyp"),
        (["score", "--dir", "missing_dir"], "missing_dir: not a directory"),
    ]
    for args, message in cases:
        out = laura(*args, cwd=tmp_path)
        assert out.returncode == 2, (args, out.stdout)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("laura: error:") and message in lines[0], (args, out.stderr)


def test_help_explains_each_command():
    out = laura("--help")
    assert out.returncode == 0 and "plugins" in out.stdout and "score" in out.stdout
    out = laura("score", "--help")
    assert "--dir" in out.stdout and "key=value" in out.stdout


def test_tokenizer_train_reads_manifest_fields_and_reports_records_without_text(tmp_path):
    from laura_core.registry import get_registry

    records = [{"id": f"u{i}", "text": f"the number {i} is here", "translation": f"el numero {i} esta aqui"} for i in range(30)]
    records.append({"id": "empty", "audio": "x.wav"})
    write_jsonl(tmp_path / "train.jsonl", records)
    out = laura("tokenizer", "train", "--input", "train.jsonl", "--fields", "text,translation", "--vocab-size", "40",
                "--out", "tok", "model_type=bpe", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "records without text in text, translation: 1" in out.stdout
    tok = get_registry().create("tokenizer", "sentencepiece", model=str(tmp_path / "tok" / "tokenizer.model"))
    assert tok.decode(tok.encode("el numero 7 esta aqui")) == "el numero 7 esta aqui"
    assert (tmp_path / "tok" / "tokenizer.yaml").is_file()
