"""The benchmark scripts run (at tiny size: no timing is asserted) and say what they promise."""
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench"


def test_decode_bench_runs_and_fp32_greedy_equals_transformers(tmp_path):
    out = tmp_path / "decode.json"
    run = subprocess.run([sys.executable, str(BENCH / "decode.py"), "--config", "tiny", "--batch-sizes", "1", "8",
                          "--new-tokens", "6", "--prompt-len", "8", "--rounds", "1", "--no-memory", "--swap",
                          "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["machine"]["cores"] >= 1 and results["machine"]["stream_gbps"] > 0 and results["swap"]
    for batch in ("1", "8"):
        row = results["batches"][batch]
        assert row["greedy_identical_to_transformers"] and row["pytorch_path_identical"]
        assert 0.5 <= row["bf16_tokens_as_fp32"] <= 1 and set(row) >= {"laura", "laura_bf16", "laura_int8", "transformers"}
    assert "cached_step_ms" in results["batches"]["1"]["laura_int8"]
    assert "medians of 1 alternating rounds (order swapped)" in run.stdout


def test_train_bench_runs_and_length_groups_compute_fewer_positions_on_mixed_batches(tmp_path):
    out = tmp_path / "train.json"
    run = subprocess.run([sys.executable, str(BENCH / "train.py"), "--gpt", "64x1", "--compare-steps", "2",
                          "--mixed-steps", "2", "--batch", "16", "--length", "100", "--config", "tiny", "--steps", "2",
                          "--cuts", "24", "--max-duration", "20", "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(out.read_text())
    for key in ("vs_transformers", "vs_transformers_mixed"):
        assert set(results[key]) >= {"laura", "laura_padded", "transformers", "ratio", "groups_vs_padded"}
    mixed = results["vs_transformers_mixed"]
    # A quarter of the rows 2-2.5 times as long: padded whole, under 0.6 of the positions are real; in groups, most.
    assert mixed["position_efficiency"] < 0.6 and mixed["position_efficiency_groups"] > 0.75
    assert "laura / laura padded whole" in run.stdout
