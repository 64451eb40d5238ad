#!/usr/bin/env python
"""Does a voice prompt move the voice? Speaker similarity to each test item's prompt recording of two tts
decodes of the same items (with and without prompts), paired per item, on the items both voiced.

`laura score` averages SIM over all items, an unvoiced one counting 0; this compares the two models on
the same voiced items, with the paired difference's standard error and how many items it favours.

usage: paired_sim.py PROMPTED_DIR UNPROMPTED_DIR   (e.g. exp/mini/decode/tts/test exp/mini/baselines/no_prompt/tts/test)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from laura_core.audio import read_audio
from laura_core.registry import get_registry


def voiced(folder: Path) -> dict[str, Path]:
    """id -> output wav of a decode folder's hyp.jsonl (items without audio left out)."""
    out = {}
    for line in (folder / "hyp.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("audio"):
            out[record["id"]] = folder / record["audio"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompted", type=Path)
    parser.add_argument("unprompted", type=Path)
    args = parser.parse_args()
    judge = get_registry().create("speaker_judge", "resemblyzer")
    refs = {r["id"]: r for r in map(json.loads, (args.prompted / "ref.jsonl").read_text().splitlines())}
    with_prompt, without = voiced(args.prompted), voiced(args.unprompted)
    ids = sorted(i for i in set(with_prompt) & set(without) if refs.get(i, {}).get("prompt"))
    if len(ids) < 2:
        raise SystemExit(f"{len(ids)} items voiced by both with a prompt recording: nothing to compare")

    def embed(paths):
        return judge.embed([read_audio(p, judge.sample_rate)[0] for p in paths])

    prompts = embed(refs[i]["prompt"] for i in ids)
    a = np.sum(prompts * embed(with_prompt[i] for i in ids), 1)
    b = np.sum(prompts * embed(without[i] for i in ids), 1)
    d = a - b
    print(f"{len(ids)} items voiced by both ({judge.identity()})")
    print(f"SIM to the prompt: with prompts {a.mean():.4f}, without {b.mean():.4f}, difference {d.mean():+.4f} "
          f"(standard error {d.std(ddof=1) / np.sqrt(len(d)):.4f}); with prompts higher on {int((d > 0).sum())} "
          f"of {len(d)}")


if __name__ == "__main__":
    main()
