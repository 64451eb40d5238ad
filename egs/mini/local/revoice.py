#!/usr/bin/env python
"""Voice the codes of a `laura infer` audio-output folder again with another vocoder, into a folder
that `laura score --dir` scores like the original: the same model tokens, another vocoder (or the same
one without the voice prompts), so the vocoder's share of a score is measured apart from the LM's.

Each record's condition is rebuilt as `laura infer` built it (the source text's ids, or the input
audio), and its voice prompt is the one the decode used (the record's prompt field, cropped to the
decode's prompt_seconds); --no-prompts voices without them.

usage: revoice.py DECODE_FOLDER OUT_FOLDER --vocoder DIR [--no-prompts]
  e.g. revoice.py exp/mini/decode/tts/test exp/mini/revoice/tts/test --vocoder egs/mini/pretrained/vocoder_small
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from laura_core.audio import read_audio, write_wav
from laura_core.inference.infer import INFO_FILE, WAV_DIR, _voice, load_inference_model, voice_prompt
from laura_core.io import read_jsonl, write_json, write_jsonl
from laura_core.manifest import read_cuts
from laura_core.model.codec import weights_hash
from laura_core.registry import get_registry
from laura_core.runtime import prepare_torch

BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("decode", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--vocoder", required=True)
    parser.add_argument("--no-prompts", action="store_true")
    args = parser.parse_args()
    prepare_torch()
    info = json.loads((args.decode / INFO_FILE).read_text())
    bundle = load_inference_model(info["model"], get_registry(), args.vocoder)
    task = bundle.tasks[info["task"]]
    cuts = {cut.id: cut for cut in read_cuts(info["manifest"])}
    refs = {r["id"]: r for _, r in read_jsonl(args.decode / "ref.jsonl")}
    hyps = [r for _, r in read_jsonl(args.decode / "hyp.jsonl")]
    use_prompts = bool(task.prompt_field) and info.get("prompts") == "records" and not args.no_prompts
    records = []
    for start in range(0, len(hyps), BATCH):
        batch = hyps[start: start + BATCH]
        prompts = []
        for hyp in batch:
            path = refs[hyp["id"]].get(task.prompt_field) if use_prompts else None
            prompts.append(voice_prompt(bundle, read_audio(path, bundle.codec.sample_rate)[0], None,
                                        info.get("prompt_seconds", 3.0)) if path else None)
        outputs = [[bundle.model.layout.codec_id(c) for c in hyp["codes"]] for hyp in batch]
        for hyp, voiced in zip(batch, _voice(bundle, task, [cuts[h["id"]] for h in batch], outputs, prompts)):
            path = write_wav(args.out / WAV_DIR / Path(hyp[task.hyp_fields[0].name]).name, voiced.samples,
                             bundle.codec.sample_rate)
            records.append({**hyp, task.hyp_fields[0].name: f"{WAV_DIR}/{path.name}"})
    shutil.copyfile(args.decode / "ref.jsonl", args.out / "ref.jsonl")
    write_jsonl(args.out / "hyp.jsonl", records)
    vocoder = f"{type(bundle.vocoder).__name__}-{weights_hash(bundle.vocoder.state_dict())}"
    write_json(args.out / INFO_FILE, {**info, "vocoder": vocoder, "revoiced_from": str(args.decode.resolve()),
                                      "vocoder_prompts": use_prompts})
    print(f"{len(records)} outputs voiced again by {args.vocoder} ({vocoder}), prompts {'on' if use_prompts else 'off'}"
          f" -> {args.out}")


if __name__ == "__main__":
    main()
