#!/usr/bin/env python
"""The baselines the mini recipe's scores stand beside, as experiment folders for `laura score --dir`:

    mt   copy        the source sentence as its own translation
    ser  majority    the commonest training emotion for every test utterance
    slu  majority    the commonest training intent, no slots, for every test utterance
    aac  frequent    the commonest training caption for every test clip
    tts  reference   the test recordings themselves (the judge's own error rate: the ceiling)
    tts  resynth     the test recordings coded and decoded by the codec (all its quantizers): the ceiling
                     of WER and SIM for any model that speaks through that codec
    se   noisy       the noisy input itself, unprocessed
    se   resynth     the clean speech coded and decoded by the codec (all its quantizers): the ceiling
                     of any system that speaks through that codec

usage: baselines.py DATA OUT [--codec CODEC_DIR [--resynth tts se]]
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
    parser.add_argument("--codec", help="codec directory for the tts and se resynthesis ceilings")
    parser.add_argument("--resynth", nargs="+", choices=("tts", "se"), default=["tts", "se"],
                        help="the tasks to make the resynthesis ceiling of (with --codec)")
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
    if args.codec:
        resynthesize = ResynthesisCeiling(args.codec, args.laura, args.data, args.out)
        for task, field in (("tts", "audio"), ("se", "clean")):
            if task in args.resynth:
                lay_out(task, "resynth", resynthesize(task, field))


class ResynthesisCeiling:
    """Each test recording of a task's ``field`` through the codec and back (every quantizer), with
    ``laura codec encode/decode``: what a perfect model that speaks through this codec would output."""

    def __init__(self, codec: str, laura: str, data: Path, out: Path):
        self.codec, self.laura, self.data, self.out = codec, laura, data, out

    def __call__(self, task: str, field: str):
        folder = self.out / task / "resynth"
        originals = folder / "original"
        originals.mkdir(parents=True, exist_ok=True)
        for r in records(self.data, task, "test"):
            link = originals / f"{r['id']}.wav"
            if not link.exists():
                link.symlink_to(Path(r[field]).resolve())
        codes, wavs = folder / "codes", folder / "wav"
        for command, src, dst in (("encode", originals, codes), ("decode", codes, wavs)):
            subprocess.run([self.laura, "codec", command, "--codec", self.codec, str(src), str(dst)], check=True,
                           stdout=subprocess.DEVNULL)
        return lambda r: {"id": r["id"], "audio": str((wavs / f"{r['id']}.wav").resolve())}


if __name__ == "__main__":
    main()
