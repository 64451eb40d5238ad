#!/usr/bin/env python
"""The baselines the mini recipe's scores stand beside, as experiment folders for `laura score --dir`:

    mt   copy        the source sentence as its own translation
    ser  majority    the commonest training emotion for every test utterance
    slu  majority    the commonest training intent, no slots, for every test utterance
    aac  frequent    the commonest training caption for every test clip
    tts  reference   the test recordings themselves (the judge's own error rate: the ceiling)
    se   noisy       the noisy input itself, unprocessed
    se   resynth     the clean speech coded and decoded by the codec (all its quantizers): the ceiling
                     of any system that speaks through that codec

usage: baselines.py DATA OUT [--codec CODEC_DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from laura_core.manifest import cut_to_record, read_cuts
from laura_core.registry import get_registry


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def records(data: Path, task: str, split: str) -> list[dict]:
    return [cut_to_record(cut) for cut in read_cuts(data / task / f"{split}.jsonl.gz")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the mini corpus (laura prepare mini DATA)")
    parser.add_argument("out", type=Path, help="where the baseline folders go")
    parser.add_argument("--codec", help="codec directory for the se resynthesis ceiling")
    parser.add_argument("--laura", default=str(Path(sys.executable).parent / "laura"), help="the laura command")
    args = parser.parse_args()
    registry = get_registry()

    def lay_out(task: str, name: str, hyp) -> None:
        test = records(args.data, task, "test")
        folder = args.out / task / name
        write_jsonl(folder / "ref.jsonl", [registry.task(task).to_reference(r) for r in test])
        write_jsonl(folder / "hyp.jsonl", [hyp(r) for r in test])

    lay_out("mt", "copy", lambda r: {"id": r["id"], "text": r["text"]})
    emotion = Counter(r["emotion"] for r in records(args.data, "ser", "train")).most_common(1)[0][0]
    lay_out("ser", "majority", lambda r: {"id": r["id"], "text": emotion})
    intent = Counter(r["intent"] for r in records(args.data, "slu", "train")).most_common(1)[0][0]
    lay_out("slu", "majority", lambda r: {"id": r["id"], "intent": intent, "slots": []})
    caption = Counter(c for r in records(args.data, "aac", "train") for c in r["captions"]).most_common(1)[0][0]
    lay_out("aac", "frequent", lambda r: {"id": r["id"], "text": caption})
    lay_out("tts", "reference", lambda r: {"id": r["id"], "audio": r["audio"]})
    lay_out("se", "noisy", lambda r: {"id": r["id"], "audio": r["audio"]})
    if args.codec:  # every test clean wav through the codec and back
        clean = args.out / "se" / "resynth" / "clean"
        clean.mkdir(parents=True, exist_ok=True)
        for r in records(args.data, "se", "test"):
            link = clean / f"{r['id']}.wav"
            if not link.exists():
                link.symlink_to(Path(r["clean"]).resolve())
        codes, wavs = args.out / "se" / "resynth" / "codes", args.out / "se" / "resynth" / "wav"
        for command in (["encode", str(clean), str(codes)], ["decode", str(codes), str(wavs)]):
            subprocess.run([args.laura, "codec", command[0], "--codec", args.codec, *command[1:]], check=True,
                           stdout=subprocess.DEVNULL)
        lay_out("se", "resynth", lambda r: {"id": r["id"], "audio": str((wavs / f"{r['id']}.wav").resolve())})


if __name__ == "__main__":
    main()
