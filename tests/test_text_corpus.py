"""egs/mini/local/text_corpus.py: the text the released GPT is pretrained on never holds a sentence of
the mini corpus's dev or test splits, in either language, whatever its case or punctuation."""
import gzip
import json
import sys
from pathlib import Path

from tests.conftest import load_recipe_script


def write(path: Path, cuts: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(json.dumps(c) + "\n" for c in cuts).encode()))


def test_held_out_sentences_repeats_and_runaway_lines_stay_out(tmp_path, monkeypatch):
    corpus = load_recipe_script("egs/mini/local/text_corpus.py")
    data = tmp_path / "mini"
    write(data / "mt" / "test.jsonl.gz", [{"id": "a", "supervisions": [{"text": "In the beginning."}],
                                           "custom": {"translation": "En el principio."}}])
    write(data / "asr" / "dev.jsonl.gz", [{"id": "b", "supervisions": [{"text": "Hello there"}]}])
    write(data / "mt" / "train.jsonl.gz", [{"id": "c", "supervisions": [{"text": "Train text."}]}])

    def pair(rid, source, target, language="en", target_language="es"):
        return dict(id=rid, source=source, language=language, target=target, target_language=target_language)

    found = [
        pair("kept-1", "Train text.", "Texto."),  # train text of the mini corpus may be seen
        pair("test-source", "in the BEGINNING", "Al principio."),  # a test source, case and punctuation aside
        pair("test-target", "At first.", "En el principio"),  # a test translation on the target side
        pair("dev-other-task", "Hallo daar.", "Hello, there!", "nl", "en"),  # any task's dev text
        pair("kept-2", "Second.", "Segundo."),
        pair("repeat", "second", "segundo"),  # the same pair again
        pair("runaway", "x" * 700, "y"),  # a parsing accident
        pair("kept-3", "Third.", "Tercero."),
        pair("kept-3", "Fourth.", "Cuarto."),  # a second line under one id gets an id of its own
    ]
    monkeypatch.setattr(corpus, "pairs", lambda: [dict(p) for p in found])
    monkeypatch.setattr(corpus, "DEV_PAIRS", 1)
    monkeypatch.setattr(sys, "argv", ["text_corpus.py", str(data), str(tmp_path / "out")])
    corpus.main()

    def read(split):
        with gzip.open(tmp_path / "out" / "mt" / f"{split}.jsonl.gz", "rt") as f:
            return [json.loads(line) for line in f]

    train, dev = read("train"), read("dev")
    assert len(dev) == 1
    assert sorted(c["id"] for c in train + dev) == ["kept-1", "kept-2", "kept-3", "kept-3+"]
    first = next(c for c in train + dev if c["id"] == "kept-1")
    assert first["supervisions"][0]["text"] == "Train text." and first["custom"] == {
        "translation": "Texto.", "target_language": "es"}
    assert "9 pairs found, 5 left out" in (tmp_path / "out" / "README.md").read_text()
