"""egs/mini/local/report.py: the demo's scoreboard judges each score against the setting's threshold
(se against the noisy input it must beat) and shows only the baselines that were scored."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import load_recipe_script


def scored(**folders) -> dict:
    return {folder: {"metrics": metrics} for folder, metrics in folders.items()}


def test_scoreboard_thresholds_and_baselines(tmp_path, monkeypatch, capsys):
    report = load_recipe_script("egs/mini/local/report.py")
    decode = tmp_path / "decode.json"
    decode.write_text(json.dumps(scored(**{
        "asr/test": {"wer": 0.55}, "mt/test": {"chrf": 24.9}, "se/test": {"pesq": 1.30, "stoi": 0.5},
        "tts/test": {"wer": 0.7, "sim_prompt": 0.6, "sim": 0.61}, "tts/test_unseen": {"wer": 0.8, "sim_prompt": 0.55}})))
    baselines = tmp_path / "baselines.json"
    # A baseline a run did not score (here the no-prompt tts decode) must not show as a dash.
    baselines.write_text(json.dumps(scored(**{
        "mt/copy": {"chrf": 16.6}, "se/noisy": {"pesq": 1.226, "stoi": 0.915}, "se/resynth": {"pesq": 1.1},
        "tts/reference": {"wer": 0.188}, "tts/resynth": {"wer": 0.2}, "tts/reference_unseen": {"wer": 0.21}})))
    out = tmp_path / "scores.md"
    monkeypatch.setattr(sys, "argv", ["report.py", str(decode), str(baselines), "--minutes", "29.6",
                                      "--out", str(out)])
    report.main()
    rows = {tuple(cell.strip() for cell in line.split("|")[1:3]): line for line in out.read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| task")}
    assert out.read_text().startswith("Test scores of the mini recipe (demo setting, 30 minutes)")
    assert "| 0.550 | <= 0.600 | yes |" in rows["asr", "wer"]
    assert "| 24.9 | >= 25.0 | NO | copy 16.6 |" in rows["mt", "chrf"]
    assert "| 1.300 | > 1.226 | yes | noisy 1.226, resynth 1.100 |" in rows["se", "pesq"]
    assert rows["tts", "wer"].endswith("| 0.700 | <= 0.600 | NO | reference 0.188, resynth 0.200 |")
    # The unseen speakers alone, beside the references of the same items.
    assert rows["tts (unseen speakers)", "wer"].endswith("| 0.800 | - | - | reference 0.210 |")
    assert "| 0.550 | - | - | - |" in rows["tts (unseen speakers)", "sim_prompt"]
    assert "no_prompt" not in out.read_text()
    assert ("s2tt", "bleu") not in rows  # neither scored nor a baseline: no row
    assert capsys.readouterr().out.strip() == out.read_text().strip()


class ToneJudge:
    """A speaker judge whose embedding is the unit vector of a recording's first two samples: the
    tests choose each output's similarity to its prompt exactly."""

    sample_rate = 16000

    def embed(self, waves):
        return np.stack([w[:2] / np.linalg.norm(w[:2]) for w in waves])

    def identity(self):
        return "tone judge"


def test_paired_sim_pairs_items_both_voiced_and_splits_out_unseen_speakers(tmp_path):
    paired_sim = load_recipe_script("egs/mini/local/paired_sim.py")

    def wav(path, x, y):
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.r_[x, y, np.zeros(98)].astype(np.float32), 16000, subtype="FLOAT")
        return str(path)

    # Prompts point along (1, 0); with a prompt the output's similarity to it is a, without it b.
    items = {"multi-1": (1.0, 0.6), "multi-2": (0.8, 0.6), "multi-3": (0.9, 0.9), "single-1": (0.5, 1.0)}
    refs, with_prompt, without = [], [], []
    for i, (a, b) in items.items():
        refs.append({"id": i, "text": "x", "prompt": wav(tmp_path / "prompts" / f"{i}.wav", 1, 0)})
        with_prompt.append({"id": i, "audio": Path(wav(tmp_path / "p" / f"{i}.wav", a, np.sqrt(1 - a * a))).name})
        without.append({"id": i, "audio": Path(wav(tmp_path / "n" / f"{i}.wav", b, np.sqrt(1 - b * b))).name})
    without.append({"id": "multi-4", "audio": None})  # unvoiced by one: left out of the pairs
    for folder, hyps in (("p", with_prompt), ("n", without)):
        (tmp_path / folder / "hyp.jsonl").write_text("".join(json.dumps(h) + "\n" for h in hyps))
    (tmp_path / "p" / "ref.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))

    every = paired_sim.paired(tmp_path / "p", tmp_path / "n", ToneJudge())
    unseen = paired_sim.paired(tmp_path / "p", tmp_path / "n", ToneJudge(), "multi-")
    assert every["items"] == 4 and every["difference"] == pytest.approx((0.4 + 0.2 + 0 - 0.5) / 4, abs=1e-6)
    assert unseen["items"] == 3 and unseen["higher_with_prompt"] == 2
    assert unseen["with_prompt"] == pytest.approx(0.9, abs=1e-6) and unseen["without"] == pytest.approx(0.7, abs=1e-6)
    assert unseen["difference"] == pytest.approx(0.2, abs=1e-6)
    assert unseen["standard_error"] == pytest.approx(np.std([0.4, 0.2, 0.0], ddof=1) / np.sqrt(3), abs=1e-6)
    assert paired_sim.paired(tmp_path / "p", tmp_path / "n", ToneJudge(), "none-") is None

    report = load_recipe_script("egs/mini/local/report.py")
    figures = tmp_path / "paired.json"
    figures.write_text(json.dumps({"judge": "tone judge", "all": every, "unseen": unseen}))
    assert report.prompt_effect(figures)[-1] == (
        "tts voice prompt, unseen speakers (3 items voiced by both): SIM to the prompt speaker 0.900 with the "
        "prompt, 0.700 without, +0.200 (standard error 0.115, paired; higher on 2)")
    assert report.prompt_effect(None) == []


def test_paired_sim_with_nothing_voiced_says_so_and_leaves_the_scoreboard_its_line(tmp_path, monkeypatch, capsys):
    paired_sim = load_recipe_script("egs/mini/local/paired_sim.py")
    for folder in ("p", "n"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "hyp.jsonl").write_text(json.dumps({"id": "multi-1", "audio": None}) + "\n")
    (tmp_path / "p" / "ref.jsonl").write_text(json.dumps({"id": "multi-1", "text": "x", "prompt": "p.wav"}) + "\n")
    out = tmp_path / "paired.json"
    monkeypatch.setattr(sys, "argv", ["paired_sim.py", str(tmp_path / "p"), str(tmp_path / "n"), "--out", str(out)])
    paired_sim.main()  # no SystemExit: the demo goes on to its scoreboard
    assert "nothing to compare" in capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["all"] is None and figures["unseen"] is None
    assert load_recipe_script("egs/mini/local/report.py").prompt_effect(out) == []


def test_subset_keeps_a_prefix_and_points_relative_audio_at_the_same_files(tmp_path, monkeypatch):
    src = tmp_path / "decode" / "tts" / "test"
    (src / "wav").mkdir(parents=True)
    (src / "wav" / "multi-1.wav").write_bytes(b"x")
    (src / "ref.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "multi-1", "text": "a", "audio": "/data/multi-1.wav"}, {"id": "single-1", "text": "b"})))
    (src / "hyp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": "multi-1", "audio": "wav/multi-1.wav", "codes": [1, 2]}, {"id": "single-1", "audio": "wav/s.wav"})))
    dst = tmp_path / "decode" / "tts" / "test_unseen"
    monkeypatch.setattr(sys, "argv", ["subset.py", str(src), str(dst), "multi-"])
    load_recipe_script("egs/mini/local/subset.py")
    ref, hyp = ([json.loads(line) for line in (dst / name).read_text().splitlines()] for name in ("ref.jsonl", "hyp.jsonl"))
    assert ref == [{"id": "multi-1", "text": "a", "audio": "/data/multi-1.wav"}]
    assert hyp == [{"id": "multi-1", "audio": str((src / "wav" / "multi-1.wav").resolve()), "codes": [1, 2]}]
