#!/usr/bin/env python
"""How a codec's resynthesis sounds to the judges of speech output, on the first items of a tts manifest:
STOI and wide-band PESQ against the recording, WER by the whisper judge (int8; lower-cased, everything
but letters and apostrophes removed), and speaker similarity (Resemblyzer) to the recording.
The figures of `egs/mini/pretrained/codec_small_freq/README.md`.

usage: codec_check.py CODEC_DIR [--manifest data/mini/tts/test.jsonl.gz] [--items 16] [--n-q N] [--recordings]
  --n-q N        decode the first N quantizer groups only (default: all)
  --recordings   score the recordings themselves instead (the judges' own ceiling)
"""
from __future__ import annotations

import argparse
import re

import jiwer
import numpy as np
import torch
from pesq import pesq
from pystoi import stoi

from laura_core.data.batches import load_waveform
from laura_core.manifest import read_cuts
from laura_core.model.codec import load_codec
from laura_core.registry import get_registry
from laura_core.runtime import prepare_torch


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("codec")
    parser.add_argument("--manifest", default="data/mini/tts/test.jsonl.gz")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--n-q", type=int)
    parser.add_argument("--recordings", action="store_true")
    args = parser.parse_args()
    prepare_torch()
    registry = get_registry()
    codec, identity = load_codec(args.codec, registry)
    cuts = list(read_cuts(args.manifest))[: args.items]
    recordings, outputs = [], []
    with torch.inference_mode():
        for cut in cuts:
            wav = load_waveform(cut, codec.sample_rate)
            recordings.append(wav.numpy())
            if args.recordings:
                outputs.append(wav.numpy().copy())
            else:
                codes = codec.encode(wav[None, None], n_q=args.n_q)
                outputs.append(codec.decode(codes)[0, 0, : len(wav)].float().numpy())
    rate = codec.sample_rate
    hyps = registry.create("judge", "whisper", compute_type="int8").transcribe(outputs)
    wer = jiwer.wer([words(c.supervisions[0].text) for c in cuts], [words(h) or "-" for h in hyps])
    speaker = registry.create("speaker_judge", "resemblyzer")
    sim = np.sum(speaker.embed(recordings) * speaker.embed(outputs), 1).mean()
    what = "the recordings" if args.recordings else f"{identity}, {args.n_q or codec.n_q} groups"
    print(f"{what}, {len(cuts)} items of {args.manifest}: STOI "
          f"{np.mean([stoi(r, o, rate) for r, o in zip(recordings, outputs)]):.3f} PESQ "
          f"{np.mean([pesq(rate, r, o, 'wb') for r, o in zip(recordings, outputs)]):.3f} WER {wer:.3f} SIM {sim:.3f}")


if __name__ == "__main__":
    main()
