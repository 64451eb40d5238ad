"""egs/mini/local/report.py: the demo's scoreboard judges each score against the setting's threshold
(se against the noisy input it must beat) and shows only the baselines that were scored."""
import json
import sys

from tests.conftest import load_recipe_script


def scored(**folders) -> dict:
    return {folder: {"metrics": metrics} for folder, metrics in folders.items()}


def test_scoreboard_thresholds_and_baselines(tmp_path, monkeypatch, capsys):
    report = load_recipe_script("egs/mini/local/report.py")
    decode = tmp_path / "decode.json"
    decode.write_text(json.dumps(scored(**{
        "asr/test": {"wer": 0.55}, "mt/test": {"chrf": 24.9}, "se/test": {"pesq": 1.30, "stoi": 0.5},
        "tts/test": {"wer": 0.7, "sim_prompt": 0.6, "sim": 0.61}})))
    baselines = tmp_path / "baselines.json"
    # The demo leaves the no-prompt tts decode out: its column must not show a dash for it.
    baselines.write_text(json.dumps(scored(**{
        "mt/copy": {"chrf": 16.6}, "se/noisy": {"pesq": 1.226, "stoi": 0.915}, "se/resynth": {"pesq": 1.1},
        "tts/reference": {"wer": 0.188}, "tts/resynth": {"wer": 0.2}})))
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
    assert "no_prompt" not in out.read_text()
    assert ("s2tt", "bleu") not in rows  # neither scored nor a baseline: no row
    assert capsys.readouterr().out.strip() == out.read_text().strip()
