#!/usr/bin/env python
"""The mini recipe's scoreboard: each task's test score beside the issue's threshold for the setting
and the baseline it must beat, from the `results.json` files `laura score --dir` wrote.

usage: report.py DECODE_RESULTS BASELINE_RESULTS [--setting demo|long] [--minutes M] [--paired PAIRED.json]
                 [--out TABLE.md]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from laura_core.io import atomic_write_text

# task: (folder of the model's scores, metric, direction, {setting: threshold}, baseline folders)
# Thresholds are issue #12's: `make demo` (30 minutes on 2 cores) and the longer setting. tts decodes
# with each test item's voice prompt (zero-shot, unseen speakers); no_prompt is the same model without
# on the same items. A baseline not scored in a run is left out of its row.
TTS_BASELINES = ["tts/reference", "tts/resynth", "tts/vocoded", "no_prompt/tts/test"]
UNSEEN_BASELINES = ["tts/reference_unseen", "no_prompt/tts/test_unseen"]  # the same, the unseen speakers alone
ROWS = [
    ("asr", "decode/asr/test", "wer", "min", {"demo": 0.60, "long": 0.25}, []),
    ("asr (real recordings)", "decode/asr/test_real", "wer", "min", {"demo": None, "long": None}, []),
    ("s2tt", "decode/s2tt/test", "bleu", "max", {"demo": 5.0, "long": 15.0}, []),
    ("mt", "decode/mt/test", "chrf", "max", {"demo": 25.0, "long": 40.0}, ["mt/copy"]),
    ("ser", "decode/ser/test", "accuracy", "max", {"demo": 0.70, "long": 0.85}, ["ser/majority"]),
    ("slu", "decode/slu/test", "intent_accuracy", "max", {"demo": 0.70, "long": 0.85}, ["slu/majority"]),
    ("slu", "decode/slu/test", "slu_f1", "max", {"demo": None, "long": 0.60}, ["slu/majority"]),
    ("aac", "decode/aac/test", "cider", "max", {"demo": 0.30, "long": 0.50}, ["aac/frequent"]),
    ("tts", "decode/tts/test", "wer", "min", {"demo": 0.60, "long": 0.30}, TTS_BASELINES),
    ("tts", "decode/tts/test", "sim_prompt", "max", {"demo": None, "long": None}, TTS_BASELINES),
    ("tts", "decode/tts/test", "sim", "max", {"demo": None, "long": None}, TTS_BASELINES),
    ("tts (unseen speakers)", "decode/tts/test_unseen", "wer", "min", {"demo": None, "long": None}, UNSEEN_BASELINES),
    ("tts (unseen speakers)", "decode/tts/test_unseen", "sim_prompt", "max", {"demo": None, "long": None},
     UNSEEN_BASELINES),
    ("se", "decode/se/test", "pesq", "max", {"demo": "baseline", "long": "baseline"}, ["se/noisy", "se/resynth", "se/vocoded"]),
    ("se", "decode/se/test", "stoi", "max", {"demo": None, "long": "baseline"}, ["se/noisy", "se/resynth", "se/vocoded"]),
    ("se", "decode/se/test", "dnsmos_ovrl", "max", {"demo": None, "long": None}, ["se/noisy", "se/resynth", "se/vocoded"]),
]


def metric(results: dict, folder: str, name: str) -> float | None:
    for key, report in results.items():
        if key.endswith(folder):
            return report["metrics"].get(name)
    return None


def label(folder: str) -> str:
    """What a baseline folder is called in the table: task/NAME -> NAME, NAME/task/split -> NAME."""
    parts = folder.removesuffix("_unseen").split("/")
    return parts[1] if len(parts) == 2 else parts[0]


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("decode", type=Path, help="results.json of `laura score --dir` over the decodes")
    parser.add_argument("baselines", type=Path, help="results.json of `laura score --dir` over the baselines")
    parser.add_argument("--setting", default="demo", choices=("demo", "long"))
    parser.add_argument("--minutes", type=float, help="the run's wall time, for the table's heading")
    parser.add_argument("--paired", type=Path, help="paired_sim.py's figures: what the voice prompt does")
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args()
    decoded = {f"decode/{k}": v for k, v in json.loads(args.decode.read_text()).items()}
    baselines = json.loads(args.baselines.read_text())
    lines = ["| task | metric | score | threshold | met | baseline |", "|---|---|---:|---:|---|---|"]
    for task, folder, name, direction, thresholds, base_folders in ROWS:
        score = metric(decoded, folder, name)
        base = {b: metric(baselines, b, name) for b in base_folders}
        if score is None and all(v is None for v in base.values()):
            continue  # not scored in this setting (the demo leaves DNSMOS out)
        threshold = thresholds[args.setting]
        if threshold == "baseline":  # above the first baseline (the noisy input)
            threshold = base.get(base_folders[0])
            shown = f"> {fmt(threshold)}"
        else:
            shown = "-" if threshold is None else f"{'<=' if direction == 'min' else '>='} {fmt(threshold)}"
        met = "-"
        if threshold is not None and score is not None:
            ok = score <= threshold if direction == "min" else score >= threshold
            if thresholds[args.setting] == "baseline":
                ok = score > threshold
            met = "yes" if ok else "NO"
        baseline = ", ".join(f"{label(b)} {fmt(v)}" for b, v in base.items() if v is not None) or "-"
        lines.append(f"| {task} | {name} | {fmt(score)} | {shown} | {met} | {baseline} |")
    heading = f"Test scores of the mini recipe ({args.setting} setting"
    heading += f", {args.minutes:.0f} minutes)" if args.minutes else ")"
    table = "\n".join([heading, "", *lines, *prompt_effect(args.paired)]) + "\n"
    print(table)
    if args.out:
        atomic_write_text(args.out, table)


def prompt_effect(paired: Path | None) -> list[str]:
    """The voice prompt's effect on the unseen speakers' items, paired with the no-prompt decode."""
    figures = json.loads(paired.read_text()).get("unseen") if paired else None
    if not figures:
        return []
    return ["", f"tts voice prompt, unseen speakers ({figures['items']} items voiced by both): SIM to the prompt "
                f"speaker {figures['with_prompt']:.3f} with the prompt, {figures['without']:.3f} without, "
                f"{figures['difference']:+.3f} (standard error {figures['standard_error']:.3f}, paired; "
                f"higher on {figures['higher_with_prompt']})"]


if __name__ == "__main__":
    main()
