#!/usr/bin/env python
"""Codec and vocoder speed on CPU, in one run:

  codecs    encode and decode real-time factor (seconds of compute per second of audio) and peak
            memory of `laura_codec` (paper config: 16 kHz, 32 x 1024, 25 Hz) and Meta's EnCodec 24 kHz
            at 24 kbps (also 32 quantizers), on the same length of speech
  vocoders  synthesis time of the one-step vocoder vs the VALL-E-style multi-step baseline (paper
            sizes, n_q = 32) for the same first-group frames: the predictor's own time (one pass vs
            n_q - 1 passes) and the end-to-end time including the codec decoder both share

Weights are random (speed does not depend on them; nothing can be downloaded here). Each
measurement runs in a fresh process so peak memory (max RSS) belongs to that system alone.
Targets: one-step synthesis >= 10x faster than multi-step at n_q = 32; laura_codec encode+decode RTF
no worse than EnCodec's.

usage: python bench/codec.py [--seconds 10] [--repeats 2] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from isolated import run_isolated

CODECS = {"laura_codec": {"size": "paper"}, "encodec": {"model": "24khz", "bandwidth": 24.0}}
VOCODERS = ("onestep", "multistep")
TEXT = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
        "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.")


def speech(seconds: float, rate: int) -> np.ndarray:
    """``seconds`` of espeak-ng speech at ``rate`` (the sentences repeated as needed)."""
    from laura_core.audio import read_audio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-w", str(path), TEXT], check=True)
        wav = read_audio(path, rate)[0]
    return np.tile(wav, int(np.ceil(seconds * rate / len(wav))))[: int(seconds * rate)]


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def measure_codec(name: str, seconds: float, repeats: int, queue) -> None:
    from laura_core.registry import get_registry

    torch.set_num_threads(2)
    torch.manual_seed(0)
    codec = get_registry().create("codec", name, **CODECS[name]).eval()
    wav = torch.from_numpy(speech(seconds, codec.sample_rate))[None, None]
    codes = codec.encode(wav)  # warm-up
    encode = best_time(lambda: codec.encode(wav), repeats)
    decode = best_time(lambda: codec.decode(codes), repeats)
    queue.put({"sample_rate": codec.sample_rate, "frame_rate": codec.frame_rate, "n_q": codec.n_q,
               "parameters": sum(p.numel() for p in codec.inference_state_dict().values()),
               "encode_rtf": encode / seconds, "decode_rtf": decode / seconds,
               "encode_decode_rtf": (encode + decode) / seconds,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


@torch.no_grad()
def measure_vocoder(name: str, seconds: float, repeats: int, queue) -> None:
    from laura_core.registry import get_registry
    from laura_core.codec import vocoder_options

    torch.set_num_threads(2)
    torch.manual_seed(0)
    registry = get_registry()
    codec = registry.create("codec", "laura_codec", size="paper").eval()
    text_vocab = 5000
    vocoder = registry.create("vocoder", name, size="paper", **vocoder_options(codec, text_vocab)).eval()
    frames = codec.frames(int(seconds * codec.sample_rate))
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, codec.codebook_size, (1, frames), generator=gen)
    lengths = torch.tensor([frames])
    text = [torch.randint(0, text_vocab, (int(seconds * 4),), generator=gen)]  # ~4 tokens per second of speech
    cond, cond_lengths = vocoder.condition_features(text, [None])
    # The predictor's own work: one pass to the summed embeddings, or n_q - 1 passes to the codes.
    predict = ((lambda: vocoder(codes, lengths, cond, cond_lengths)) if name == "onestep"
               else (lambda: vocoder.generate_codes(codes, lengths, cond, cond_lengths)))
    vocoder.synthesize(codes, lengths, cond, cond_lengths, codec)  # warm-up
    predictor = best_time(predict, repeats)
    total = best_time(lambda: vocoder.synthesize(codes, lengths, cond, cond_lengths, codec), repeats)
    queue.put({"frames": frames, "n_q": codec.n_q, "parameters": sum(p.numel() for p in vocoder.parameters()),
               "predictor_s": predictor, "synthesis_s": total, "codec_decoder_s": max(total - predictor, 0.0),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="audio length (and vocoder frames) measured")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    codecs = {name: run_isolated(measure_codec, name, args.seconds, args.repeats) for name in CODECS}
    vocoders = {name: run_isolated(measure_vocoder, name, args.seconds, args.repeats) for name in VOCODERS}
    codec_ratio = codecs["encodec"]["encode_decode_rtf"] / codecs["laura_codec"]["encode_decode_rtf"]
    predictor_ratio = vocoders["multistep"]["predictor_s"] / vocoders["onestep"]["predictor_s"]
    synthesis_ratio = vocoders["multistep"]["synthesis_s"] / vocoders["onestep"]["synthesis_s"]
    results = {"seconds": args.seconds, "threads": 2, "torch": torch.__version__, "codecs": codecs,
               "vocoders": vocoders, "encodec_rtf_over_laura_codec_rtf": codec_ratio,
               "multistep_over_onestep_predictor": predictor_ratio,
               "multistep_over_onestep_synthesis": synthesis_ratio}

    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    print(f"codecs on {args.seconds:g} s of speech, CPU, 2 threads (RTF: compute seconds per audio second)")
    print(f"{'codec':<13}{'rate':>7}{'frames/s':>10}{'n_q':>5}{'params':>12}{'encode RTF':>12}{'decode RTF':>12}"
          f"{'enc+dec RTF':>13}{'peak MB':>9}")
    for name, r in codecs.items():
        print(f"{name:<13}{r['sample_rate']:>7}{r['frame_rate']:>10g}{r['n_q']:>5}{r['parameters']:>12,}"
              f"{r['encode_rtf']:>12.4f}{r['decode_rtf']:>12.4f}{r['encode_decode_rtf']:>13.4f}{r['peak_rss_mb']:>9.0f}")
    print(f"EnCodec RTF / laura_codec RTF = {codec_ratio:.2f}x (target >= 1: {verdict(codec_ratio >= 1)})")
    print()
    frames = vocoders["onestep"]["frames"]
    print(f"vocoders, paper size, n_q = {vocoders['onestep']['n_q']}, {frames} frames ({args.seconds:g} s)")
    print(f"{'vocoder':<11}{'params':>12}{'predictor s':>13}{'codec decoder s':>17}{'synthesis s':>13}{'peak MB':>9}")
    for name, r in vocoders.items():
        print(f"{name:<11}{r['parameters']:>12,}{r['predictor_s']:>13.3f}{r['codec_decoder_s']:>17.3f}"
              f"{r['synthesis_s']:>13.3f}{r['peak_rss_mb']:>9.0f}")
    print(f"multi-step / one-step: predictor {predictor_ratio:.1f}x (target >= 10: {verdict(predictor_ratio >= 10)}), "
          f"end to end with the shared codec decoder {synthesis_ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
