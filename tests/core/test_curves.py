"""`laura curves`: a PNG of a run's training and validation curves, from log.jsonl as it stands."""
import json

import pytest

from laura_core.cli import main
from laura_core.training.curves import task_metric


def test_curves_are_drawn_from_train_and_valid_records(tmp_path, registry):
    records = [{"step": s, "split": "train", "elapsed_s": s * 0.5, "loss": 5 - s / 10, "asr/loss": 5 - s / 10}
               for s in range(1, 11)]
    records.append({"step": 10, "split": "valid", "elapsed_s": 6.0, "loss": 4.0, "asr/loss": 4.0, "asr/wer": 0.9,
                    "aac/loss": 2.0, "aac/bleu_1": 0.3, "aac/cider": 0.4})
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["curves", str(tmp_path)]) == 0
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    # Each task is plotted by its primary metric: CIDEr-D for aac, not the first it lists (BLEU-1).
    assert task_metric("aac", {"aac/bleu_1", "aac/cider"}, registry) == ("cider", 1.0)
    assert task_metric("mt", {"mt/bleu"}, registry) == ("bleu", pytest.approx(0.01))


def test_an_empty_log_is_one_line(tmp_path, capsys):
    (tmp_path / "log.jsonl").write_text("")
    assert main(["curves", str(tmp_path)]) == 2
    assert "no training or validation records to plot" in capsys.readouterr().err
