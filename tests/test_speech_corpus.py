"""egs/mini/local/speech_corpus.py: the speech a vocoder or GPT is pretrained on outside the demo holds no
sentence of the mini corpus's dev or test splits and no near-twin voice; its dev voices are unheard in
its train split, and each dev utterance has a fixed prompt of its own speaker."""
import gzip
import json
import sys
from pathlib import Path

import soundfile as sf

from tests.conftest import load_recipe_script


def write(path: Path, cuts: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(json.dumps(c) + "\n" for c in cuts).encode()))


def read(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def test_held_out_text_and_near_twins_stay_out_and_dev_voices_are_unheard(tmp_path, monkeypatch):
    corpus = load_recipe_script("egs/mini/local/speech_corpus.py")
    data = tmp_path / "mini"
    write(data / "tts" / "test.jsonl.gz", [{"id": "a", "supervisions": [{"text": "Held out, as a test sentence."}]}])
    write(data / "mt" / "dev.jsonl.gz", [{"id": "b", "supervisions": [{"text": "Another one held out by dev."}],
                                          "custom": {"translation": "Otra."}}])
    verses = {"Genesis": {f"Genesis 1:{i}": f"Verse number {word} of the first book." for i, word in enumerate(
        ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"), 1)},
        "Exodus": {"Exodus 1:1": "held out as a TEST sentence", "Exodus 1:2": "Another one, held out by dev!",
                   "Exodus 1:3": "Too short.", "Exodus 1:4": "A sentence with a symbol & more words."},
        "Matthew": {"Matthew 1:1": "A verse of a book the mini corpus itself uses."}}
    monkeypatch.setattr(corpus, "_book", lambda module, book: verses.get(book, {}))
    twin = corpus.candidates(4)[1].name
    monkeypatch.setattr(corpus, "NEAR_TWINS", frozenset({twin}))
    monkeypatch.setattr(corpus, "DEV_VOICES", 1)
    monkeypatch.setattr(corpus, "DEV_SINGLE", 2)
    monkeypatch.setattr(corpus, "SINGLE", 0.25)
    monkeypatch.setattr(sys, "argv", ["speech_corpus.py", str(data), str(tmp_path / "out"), "--voices", "4",
                                      "--workers", "1"])
    corpus.main()

    train, dev = (read(tmp_path / "out" / "tts" / f"{s}.jsonl.gz") for s in ("train", "dev"))
    texts = sorted(c["supervisions"][0]["text"] for c in train + dev)
    assert texts == sorted(f"Verse number {w} of the first book." for w in (
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"))
    speakers = {c["supervisions"][0]["speaker"] for c in train + dev}
    assert f"espeak-ng/{twin}" not in speakers and len(speakers) == 4  # slt and three voices of our own
    assert sum(c["supervisions"][0]["speaker"] == "flite/slt" for c in train + dev) == 3  # a quarter of 12
    dev_voices = {c["supervisions"][0]["speaker"] for c in dev} - {"flite/slt"}
    assert len(dev_voices) == 1 and not dev_voices & {c["supervisions"][0]["speaker"] for c in train}
    by_id = {c["id"]: c for c in dev}
    for cut in dev:  # a fixed prompt: another dev utterance of the same speaker
        prompt = Path(cut["custom"]["prompt"]["sources"][0]["source"])
        other = next(c for c in dev if c["recording"]["sources"][0]["source"] == str(prompt))
        assert other["id"] != cut["id"] and other["supervisions"][0]["speaker"] == cut["supervisions"][0]["speaker"]
        assert cut["custom"]["prompt_text"] == by_id[other["id"]]["supervisions"][0]["text"]
    audio, rate = sf.read(train[0]["recording"]["sources"][0]["source"])
    assert rate == 16000 and len(audio) == train[0]["recording"]["num_samples"] > 8000
    readme = (tmp_path / "out" / "README.md").read_text()
    hours = sum(c["recording"]["num_samples"] for c in train) / 16000 / 3600
    assert f"| train | 7 | {hours:.2f} |" in readme
