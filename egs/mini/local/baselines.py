#!/usr/bin/env python
"""The baselines the mini recipe's scores stand beside, as experiment folders for `laura score --dir`:

    mt   copy        the source sentence as its own translation
    ser  majority    the commonest training emotion for every test utterance
    slu  majority    the commonest training intent, no slots, for every test utterance
    aac  frequent    the commonest training caption for every test clip
    tts  reference   the test recordings themselves (the judge's own error rate: the ceiling)
    tts  resynth     the test recordings coded and decoded by the codec (all its quantizers): the ceiling
                     of WER and SIM for any model that speaks through that codec
    tts  vocoded     the test recordings' own first-group codes voiced by the vocoder with their text:
                     the ceiling of any LM that speaks through that codec and vocoder (it predicts the
                     first group only, as LauraGPT)
    se   noisy       the noisy input itself, unprocessed
    se   resynth     the clean speech coded and decoded by the codec (all its quantizers): the ceiling
                     of any system that speaks through that codec
    se   vocoded     the clean speech's first-group codes voiced by the vocoder hearing the noisy input

usage: baselines.py DATA OUT [--codec CODEC_DIR [--resynth tts se] [--vocoder DIR --tokenizer MODEL]]
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
    parser.add_argument("--vocoder", help="vocoder checkpoint for the vocoded ceilings (with --codec and --tokenizer)")
    parser.add_argument("--tokenizer", help="the sentencepiece model the vocoder reads text with")
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
    if args.vocoder:
        if not (args.codec and args.tokenizer):
            parser.error("--vocoder needs --codec and --tokenizer")
        vocode = VocoderCeiling(args.codec, args.vocoder, args.tokenizer, args.data, args.out)
        for task, field in (("tts", "audio"), ("se", "clean")):
            lay_out(task, "vocoded", vocode(task, field))


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


class VocoderCeiling:
    """Each test recording of a task's ``field`` coded by the codec, its first group alone voiced by the
    vocoder with the task's condition (the text to speak, or the noisy input), as `laura infer` voices
    what the LM says: what a perfect LM that speaks through this vocoder would output."""

    BATCH = 16

    def __init__(self, codec: str, vocoder: str, tokenizer: str, data: Path, out: Path):
        from laura_core.model.codec import load_codec
        from laura_core.training.codec import load_vocoder

        registry = get_registry()
        self.codec, identity = load_codec(codec, registry)
        self.tokenizer = registry.create("tokenizer", "sentencepiece", model=tokenizer)
        self.vocoder = load_vocoder(vocoder, registry, identity, self.tokenizer.identity())
        self.registry, self.data, self.out = registry, data, out

    def __call__(self, task_name: str, field: str):
        import torch

        from laura_core.audio import write_wav
        from laura_core.data.batches import load_waveform, text_ids
        from laura_core.manifest import field_recording
        from laura_core.model.synthesis import synthesize
        from laura_core.task import Modality

        task, cuts = self.registry.task(task_name), list(read_cuts(self.data / task_name / "test.jsonl.gz"))
        folder = self.out / task_name / "vocoded" / "wav"
        rate = self.codec.sample_rate
        with torch.inference_mode():
            for start in range(0, len(cuts), self.BATCH):
                batch = cuts[start: start + self.BATCH]
                targets = [torch.from_numpy(field_recording(c, field).resample(rate).load_audio()).mean(0) for c in batch]
                codes = [self.codec.encode(t[None, None], n_q=1)[0, 0].tolist() for t in targets]
                text = [text_ids(self.tokenizer, task.to_source(cut_to_record(c))) if task.input is Modality.TEXT
                        else None for c in batch]
                wav = [load_waveform(c, rate) if task.input is Modality.AUDIO else None for c in batch]
                for cut, samples in zip(batch, synthesize(self.vocoder, self.codec, codes, text, wav)):
                    write_wav(folder / f"{cut.id}.wav", samples, rate)
        return lambda r: {"id": r["id"], "audio": str((folder / f"{r['id']}.wav").resolve())}


if __name__ == "__main__":
    main()
