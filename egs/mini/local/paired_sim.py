#!/usr/bin/env python
"""Does a voice prompt move the voice? Speaker similarity to each test item's prompt recording of two tts
decodes of the same items (with and without prompts), paired per item, on the items both voiced.

`laura score` averages SIM over all items, an unvoiced one counting 0; this compares the two models on
the same voiced items, with the paired difference's standard error and how many items it favours: over
all items, and over those whose id starts with ``--unseen`` (the mini corpus's zero-shot items,
``multi-``: speakers heard nowhere in training; the others speak the one voice tts trains on).

usage: paired_sim.py PROMPTED_DIR UNPROMPTED_DIR [--unseen PREFIX] [--out PAIRED.json]
       (e.g. exp/mini/decode/tts/test exp/mini/baselines/no_prompt/tts/test)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from laura_core.audio import read_audio
from laura_core.io import atomic_write_text
from laura_core.registry import get_registry


def voiced(folder: Path) -> dict[str, Path]:
    """id -> output wav of a decode folder's hyp.jsonl (items without audio left out)."""
    out = {}
    for line in (folder / "hyp.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("audio"):
            out[record["id"]] = folder / record["audio"]
    return out


def paired(prompted: Path, unprompted: Path, judge, prefix: str = "") -> dict | None:
    """SIM to the prompt with and without prompts on the items (id starting with ``prefix``) both voiced;
    None where fewer than two are."""
    refs = {r["id"]: r for r in map(json.loads, (prompted / "ref.jsonl").read_text().splitlines())}
    with_prompt, without = voiced(prompted), voiced(unprompted)
    ids = sorted(i for i in set(with_prompt) & set(without) if i.startswith(prefix) and refs.get(i, {}).get("prompt"))
    if len(ids) < 2:
        return None

    def embed(paths):
        return judge.embed([read_audio(p, judge.sample_rate)[0] for p in paths])

    prompts = embed(refs[i]["prompt"] for i in ids)
    a = np.sum(prompts * embed(with_prompt[i] for i in ids), 1)
    b = np.sum(prompts * embed(without[i] for i in ids), 1)
    d = a - b
    return {"items": len(ids), "with_prompt": float(a.mean()), "without": float(b.mean()),
            "difference": float(d.mean()), "standard_error": float(d.std(ddof=1) / np.sqrt(len(d))),
            "higher_with_prompt": int((d > 0).sum())}


def describe(result: dict) -> str:
    return (f"with prompts {result['with_prompt']:.4f}, without {result['without']:.4f}, difference "
            f"{result['difference']:+.4f} (standard error {result['standard_error']:.4f}); with prompts higher "
            f"on {result['higher_with_prompt']} of {result['items']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompted", type=Path)
    parser.add_argument("unprompted", type=Path)
    parser.add_argument("--unseen", default="multi-", help="id prefix of the items of unseen speakers")
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    judge = get_registry().create("speaker_judge", "resemblyzer")
    results = {"judge": judge.identity(), "all": paired(args.prompted, args.unprompted, judge),
               "unseen": paired(args.prompted, args.unprompted, judge, args.unseen)}
    if results["all"] is None:  # said, not fatal: the demo's scoreboard still follows
        print("SIM to the prompt: fewer than two items voiced by both with a prompt recording, nothing to compare")
    else:
        print(f"SIM to the prompt ({results['judge']}), paired over the items both voiced:")
    for name, label in (("all", "all items"), ("unseen", f"unseen speakers ({args.unseen}*)")):
        if results[name]:
            print(f"  {label}: {describe(results[name])}")
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
