import json

import jiwer
import numpy as np
import pytest

from laura_core.errors import DataError
from laura_core.scoring.judge import ContentMemo
from laura_core.scoring.score import score_dir, score_files
from tests.conftest import write_jsonl, write_wav

REFS = [{"id": "u1", "text": "a b c d"}, {"id": "u2", "text": "e f"}, {"id": "u3", "text": "g h i"}]


def test_missing_hypotheses_count_as_empty_and_unknown_ids_are_reported(tmp_path, registry):
    ref = write_jsonl(tmp_path / "ref.jsonl", REFS)
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": "u1", "text": "a b c x"}, {"id": "u3", "text": "g h i"},
                                               {"id": "stray", "text": "zzz"}])
    report = score_files(registry.task("asr"), ref, hyp, registry)
    # u2 is missing: both its words are deletions. 1 substitution + 2 deletions over 9 words.
    assert report.metrics["wer"] == pytest.approx(3 / 9)
    assert report.metrics["wer"] == pytest.approx(jiwer.wer(["a b c d", "e f", "g h i"], ["a b c x", "", "g h i"]))
    assert report.n == 3 and report.missing == ["u2"] and report.unknown == ["stray"]
    out = report.to_json()
    assert out["missing"] == {"count": 1, "examples": ["u2"]} and out["unknown"]["count"] == 1
    assert out["config"]["normalizer"]["lowercase"] is True


def test_overrides_reach_the_task_options(tmp_path, registry):
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": "u1", "text": "Hello World"}])
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": "u1", "text": "hello world"}])
    asr = registry.task("asr")
    assert score_files(asr, ref, hyp, registry).metrics["wer"] == 0.0
    assert score_files(asr, ref, hyp, registry, ["normalizer.lowercase=false"]).metrics["wer"] == 1.0


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"id": "u1", "text": "a"}', "{not json"], r"hyp.jsonl:2: malformed JSON"),
        (['{"id": "u1", "text": "a"}', '{"id": "u1", "text": "b"}'], r"hyp.jsonl:2: record 'u1' duplicates the record on line 1"),
        (['{"text": "a"}'], r"hyp.jsonl:1: record has no string 'id'"),
        (['{"id": "u1"}'], r"hyp.jsonl:1: record 'u1': missing field 'text'"),
        (['{"id": "u1", "text": 3}'], r"hyp.jsonl:1: record 'u1', field 'text': expected a string"),
        (['[1, 2]'], r"hyp.jsonl:1: expected a JSON object"),
    ],
)
def test_malformed_input_names_file_line_record_and_field(tmp_path, registry, lines, message):
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": "u1", "text": "a"}])
    hyp = tmp_path / "hyp.jsonl"
    hyp.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message):
        score_files(registry.task("asr"), ref, hyp, registry)


def test_missing_audio_file_names_record_and_field(tmp_path, registry):
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": "n1", "audio": "clean/n1.wav"}])
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": "n1", "audio": "enhanced/n1.wav"}])
    with pytest.raises(DataError, match=r"ref.jsonl:1: record 'n1', field 'audio': audio file not found: .*clean/n1.wav"):
        score_files(registry.task("se"), ref, hyp, registry)


def test_score_dir_finds_tasks_and_writes_results(tmp_path, registry):
    exp = tmp_path / "exp"
    write_jsonl(exp / "decode" / "asr" / "test" / "ref.jsonl", REFS)
    write_jsonl(exp / "decode" / "asr" / "test" / "hyp.jsonl", [{"id": r["id"], "text": r["text"]} for r in REFS])
    write_jsonl(exp / "decode" / "ser" / "dev" / "ref.jsonl", [{"id": "e1", "text": "sad"}, {"id": "e2", "text": "happy"}])
    write_jsonl(exp / "decode" / "ser" / "dev" / "hyp.jsonl", [{"id": "e1", "text": "sad"}, {"id": "e2", "text": "sad"}])
    reports = score_dir(exp, registry, ["asr.normalizer.lowercase=false"])
    assert [(r.task, r.name) for r in reports] == [("asr", "decode/asr/test"), ("ser", "decode/ser/dev")]
    results = json.loads((exp / "results.json").read_text())
    assert results["decode/asr/test"]["metrics"]["wer"] == 0.0
    assert results["decode/ser/dev"]["metrics"]["accuracy"] == 0.5
    assert results["decode/asr/test"]["config"]["normalizer"]["lowercase"] is False
    assert json.loads((exp / "decode" / "ser" / "dev" / "score.json").read_text())["n"] == 2
    md = (exp / "RESULTS.md").read_text()
    assert "| asr | decode/asr/test | 3 | 0 | wer 0.0000, cer 0.0000 |" in md


def test_score_dir_errors(tmp_path, registry):
    write_jsonl(tmp_path / "nothing" / "ref.jsonl", REFS)
    write_jsonl(tmp_path / "nothing" / "hyp.jsonl", REFS)
    with pytest.raises(DataError, match="no enclosing folder is named after a registered task"):
        score_dir(tmp_path, registry)
    with pytest.raises(Exception, match="TASK.key=value"):
        score_dir(tmp_path, registry, ["normalizer.lowercase=false"])


def test_relative_audio_resolves_against_the_jsonl_folder(tmp_path, registry, speech):
    write_wav(tmp_path / "sys" / "clean" / "n1.wav", speech["a"])
    ref = write_jsonl(tmp_path / "sys" / "ref.jsonl", [{"id": "n1", "audio": "clean/n1.wav"}])
    hyp = write_jsonl(tmp_path / "sys" / "hyp.jsonl", [{"id": "n1", "audio": "clean/n1.wav"}])
    report = score_files(registry.task("se"), ref, hyp, registry)
    assert report.metrics["stoi"] == pytest.approx(1.0, abs=1e-6)


def test_content_memo_computes_each_content_once_per_settings_and_empties_when_full():
    memo, calls = ContentMemo(max_items=3), []

    def compute(waves):
        calls.append(len(waves))
        return [float(w.sum()) for w in waves]

    a, b, c = (np.full(4, v, np.float32) for v in (1.0, 2.0, 3.0))
    assert memo.get("s", [a, b, a.copy()], compute) == [4.0, 8.0, 4.0] and calls == [2]
    assert memo.get("s", [b, a], compute) == [8.0, 4.0] and calls == [2, 0]  # all kept
    assert memo.get("other settings", [a], compute) == [4.0] and calls == [2, 0, 1] and len(memo) == 3
    # One more would pass max_items: emptied, and the call's waves computed again.
    assert memo.get("s", [c, a], compute) == [12.0, 4.0] and calls[-1] == 2 and len(memo) == 2
