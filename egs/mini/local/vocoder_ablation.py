#!/usr/bin/env python
"""The paper's vocoder ablation on the mini corpus: the one-step codec vocoder against the multi-step
(VALL-E-style) baseline, both trained the same way against the same codec.

Each vocoder gets the true first-group codes of the tts test utterances and their text, and its
output is compared with the codec's own resynthesis from all its quantizers (what a perfect vocoder
would give): log-mel L1 distance, SI-SDR and wide-band PESQ; and the synthesis time of the whole test
set (median of --repeats runs, the two vocoders alternated, after a warm-up run of each).

usage: vocoder_ablation.py CODEC_DIR TOKENIZER_MODEL TEST_MANIFEST ONESTEP_DIR MULTISTEP_DIR [--out RESULTS.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio

from laura_core.data.batches import load_waveform, text_ids
from laura_core.manifest import cut_to_record, read_cuts
from laura_core.model.codec import load_codec
from laura_core.model.synthesis import synthesize
from laura_core.registry import get_registry
from laura_core.runtime import prepare_torch
from laura_core.scoring.metrics.audio import pesq_wb, si_sdr
from laura_core.training.codec import load_vocoder


def log_mel_l1(ref: np.ndarray, est: np.ndarray, rate: int) -> float:
    mel = torchaudio.transforms.MelSpectrogram(rate, n_fft=1024, hop_length=256, n_mels=80)
    a, b = (torch.log(mel(torch.from_numpy(x).float()) + 1e-5) for x in (ref, est))
    return float((a - b).abs().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("codec", "tokenizer", "manifest", "onestep", "multistep"):
        parser.add_argument(name)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    prepare_torch()
    registry = get_registry()
    codec, identity = load_codec(args.codec, registry)
    tokenizer = registry.create("tokenizer", "sentencepiece", model=args.tokenizer)
    vocoders = {name: load_vocoder(getattr(args, name), registry, identity, tokenizer.identity())
                for name in ("onestep", "multistep")}
    task = registry.task("tts")
    cuts = list(read_cuts(args.manifest))
    waves = [load_waveform(cut, codec.sample_rate) for cut in cuts]
    with torch.inference_mode():
        full = [codec.encode(w[None, None]) for w in waves]  # every quantizer: the ceiling
        targets = [codec.decode_embeddings(codec.embed(c))[0, 0].numpy() for c in full]
    codes = [c[0, 0].tolist() for c in full]
    text = [text_ids(tokenizer, task.to_source(cut_to_record(cut))) for cut in cuts]
    outputs, times = {}, {name: [] for name in vocoders}
    for name, vocoder in vocoders.items():  # warm-up, and the outputs scored below
        outputs[name] = synthesize(vocoder, codec, codes, text, [None] * len(codes))
    for _ in range(args.repeats):  # alternated, so neither profits from running first
        for name, vocoder in vocoders.items():
            start = time.perf_counter()
            synthesize(vocoder, codec, codes, text, [None] * len(codes))
            times[name].append(time.perf_counter() - start)
    results = {}
    for name, outs in outputs.items():
        results[name] = {
            "mel_l1": statistics.mean(log_mel_l1(t, o, codec.sample_rate) for t, o in zip(targets, outs)),
            "si_sdr_db": statistics.mean(si_sdr(t, o) for t, o in zip(targets, outs)),
            "pesq": statistics.mean(pesq_wb(t, o, codec.sample_rate) for t, o in zip(targets, outs)),
            "synthesis_s": statistics.median(times[name]),
            "synthesis_spread_s": max(times[name]) - min(times[name]),
        }
    results["speedup_onestep_vs_multistep"] = results["multistep"]["synthesis_s"] / results["onestep"]["synthesis_s"]
    results["items"] = len(cuts)
    print("| vocoder | log-mel L1 | SI-SDR (dB) | PESQ | synthesis (s, median) |")
    print("|---|---:|---:|---:|---:|")
    for name in vocoders:
        r = results[name]
        print(f"| {name} | {r['mel_l1']:.3f} | {r['si_sdr_db']:.2f} | {r['pesq']:.3f} | {r['synthesis_s']:.3f} "
              f"(spread {r['synthesis_spread_s']:.3f}) |")
    print(f"one-step is {results['speedup_onestep_vs_multistep']:.1f}x faster; {len(cuts)} test utterances, "
          f"scored against the codec's full-quantizer resynthesis")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
