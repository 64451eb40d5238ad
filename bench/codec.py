#!/usr/bin/env python
"""Codec and vocoder speed on CPU, in one run:

  codecs    encode and decode real-time factor (seconds of compute per second of audio) of `laura_codec`
            (paper config: 16 kHz, 32 x 1024, 25 Hz), the same in the frequency domain (STFT encoder,
            inverse-STFT decoder; `domain: frequency`), and Meta's EnCodec 24 kHz at 24 kbps (also 32
            quantizers), on the same length of speech
  vocoders  synthesis time of the one-step vocoder vs the VALL-E-style multi-step baseline (paper
            sizes, n_q = 32) for the same first-group frames: the predictor's own time (one pass vs
            n_q - 1 passes) and the end-to-end time including the codec decoder both share

Weights are random (speed does not depend on them; nothing can be downloaded here). Timing follows
bench/harness.py: every system warmed up untimed, all alternated over rounds in one process (so the
shared codec decoder is as warm for one vocoder as for the other), medians with their spread, the
machine beside them; `--swap` reverses the order. Peak memory is measured apart, a fresh process per
codec. Targets (issue 18): laura_codec encode+decode RTF at most 0.5x EnCodec's; one-step synthesis end
to end >= 15x the multi-step baseline.

usage: python bench/codec.py [--seconds 10] [--rounds 5] [--swap] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from harness import alternate, describe, high_water_mb, machine
from isolated import run_isolated

# label: (registry name, options)
CODECS = {"laura_codec": ("laura_codec", {"size": "paper"}),
          "laura_codec_freq": ("laura_codec", {"size": "paper", "domain": "frequency"}),
          "encodec": ("encodec", {"model": "24khz", "bandwidth": 24.0})}
VOCODERS = ("onestep", "multistep")
TEXT = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
        "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.")
THREADS = 2


def speech(seconds: float, rate: int) -> np.ndarray:
    """``seconds`` of espeak-ng speech at ``rate`` (the sentences repeated as needed)."""
    from laura_core.audio import read_audio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-w", str(path), TEXT], check=True)
        wav = read_audio(path, rate)[0]
    return np.tile(wav, int(np.ceil(seconds * rate / len(wav))))[: int(seconds * rate)]


def codec_calls(name: str, seconds: float) -> tuple[dict, dict]:
    """Its encode and decode calls on ``seconds`` of speech, and what it is."""
    from laura_core.registry import get_registry

    torch.manual_seed(0)
    registered, options = CODECS[name]
    codec = get_registry().create("codec", registered, **options).eval()
    wav = torch.from_numpy(speech(seconds, codec.sample_rate))[None, None]
    codes = codec.encode(wav)
    info = {"sample_rate": codec.sample_rate, "frame_rate": codec.frame_rate, "n_q": codec.n_q,
            "parameters": sum(p.numel() for p in codec.inference_state_dict().values())}
    return {f"{name} encode": lambda: codec.encode(wav), f"{name} decode": lambda: codec.decode(codes)}, info


def vocoder_calls(name: str, seconds: float, codec, freq_codec) -> tuple[dict, dict]:
    """The predictor's own work (one pass to the summed embeddings, or n_q - 1 passes to the codes) and
    the whole synthesis through the codec decoder, for the frames of ``seconds``; and the synthesis through
    the frequency-domain decoder of the same shape (the same vocoder fits both)."""
    from laura_core.model.codec import vocoder_options
    from laura_core.registry import get_registry

    torch.manual_seed(0)
    text_vocab = 5000
    vocoder = get_registry().create("vocoder", name, size="paper", **vocoder_options(codec, text_vocab)).eval()
    frames = codec.frames(int(seconds * codec.sample_rate))
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, codec.codebook_size, (1, frames), generator=gen)
    lengths = torch.tensor([frames])
    text = [torch.randint(0, text_vocab, (int(seconds * 4),), generator=gen)]  # ~4 tokens per second of speech
    cond, cond_lengths = vocoder.condition_features(text, [None])
    predict = ((lambda: vocoder(codes, lengths, cond, cond_lengths)) if name == "onestep"
               else (lambda: vocoder.generate_codes(codes, lengths, cond, cond_lengths)))
    synthesize = lambda: vocoder.synthesize(codes, lengths, cond, cond_lengths, codec)  # noqa: E731
    freq = lambda: vocoder.synthesize(codes, lengths, cond, cond_lengths, freq_codec)  # noqa: E731
    info = {"frames": frames, "parameters": sum(p.numel() for p in vocoder.parameters())}
    return {f"{name} predictor": predict, f"{name} synthesis": synthesize, f"{name} synthesis freq": freq}, info


@torch.no_grad()
def codec_memory(name: str, seconds: float, queue) -> None:
    torch.set_num_threads(THREADS)
    calls, _ = codec_calls(name, seconds)
    for call in calls.values():
        call()
    queue.put({"peak_rss_mb": high_water_mb()})


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="audio length (and vocoder frames) measured")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--swap", action="store_true", help="run the systems in the reverse order")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    from laura_core.registry import get_registry

    info = machine()
    codecs, calls = {}, {}
    for name in CODECS:
        more, codecs[name] = codec_calls(name, args.seconds)
        calls.update(more)
    shared = get_registry().create("codec", "laura_codec", size="paper").eval()
    shared_freq = get_registry().create("codec", "laura_codec", size="paper", domain="frequency").eval()
    vocoders = {}
    for name in VOCODERS:
        more, vocoders[name] = vocoder_calls(name, args.seconds, shared, shared_freq)
        calls.update(more)
    timings, _ = alternate(calls, rounds=args.rounds, swap=args.swap)
    for name, r in codecs.items():
        r.update({"encode_rtf": timings[f"{name} encode"].median / args.seconds,
                  "decode_rtf": timings[f"{name} decode"].median / args.seconds,
                  "spread": max(timings[f"{name} encode"].spread, timings[f"{name} decode"].spread)})
        r["encode_decode_rtf"] = r["encode_rtf"] + r["decode_rtf"]
        r.update(run_isolated(codec_memory, name, args.seconds))
    for name, r in vocoders.items():
        r.update({"predictor_s": timings[f"{name} predictor"].median, "synthesis_s": timings[f"{name} synthesis"].median,
                  "synthesis_freq_s": timings[f"{name} synthesis freq"].median,
                  "spread": max(timings[f"{name} predictor"].spread, timings[f"{name} synthesis"].spread)})
        r["codec_decoder_s"] = max(r["synthesis_s"] - r["predictor_s"], 0.0)
    codec_ratio = codecs["laura_codec"]["encode_decode_rtf"] / codecs["encodec"]["encode_decode_rtf"]
    freq_ratio = codecs["laura_codec_freq"]["encode_decode_rtf"] / codecs["encodec"]["encode_decode_rtf"]
    predictor_ratio = vocoders["multistep"]["predictor_s"] / vocoders["onestep"]["predictor_s"]
    synthesis_ratio = vocoders["multistep"]["synthesis_s"] / vocoders["onestep"]["synthesis_s"]
    freq_synthesis_ratio = vocoders["multistep"]["synthesis_freq_s"] / vocoders["onestep"]["synthesis_freq_s"]
    results = {"seconds": args.seconds, "rounds": args.rounds, "swap": args.swap, "machine": info, "codecs": codecs,
               "vocoders": vocoders, "laura_codec_rtf_over_encodec_rtf": codec_ratio,
               "laura_codec_freq_rtf_over_encodec_rtf": freq_ratio,
               "multistep_over_onestep_predictor": predictor_ratio,
               "multistep_over_onestep_synthesis": synthesis_ratio,
               "multistep_over_onestep_synthesis_freq": freq_synthesis_ratio}

    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    print(f"codecs on {args.seconds:g} s of speech, CPU, {THREADS} threads (RTF: compute seconds per audio second)")
    print(describe(info))
    print(f"medians of {args.rounds} alternating rounds{' (order swapped)' if args.swap else ''}, warm-up excluded")
    print(f"{'codec':<17}{'rate':>7}{'frames/s':>10}{'n_q':>5}{'params':>12}{'encode RTF':>12}{'decode RTF':>12}"
          f"{'enc+dec RTF':>13}{'spread':>8}{'peak MB':>9}")
    for name, r in codecs.items():
        print(f"{name:<17}{r['sample_rate']:>7}{r['frame_rate']:>10g}{r['n_q']:>5}{r['parameters']:>12,}"
              f"{r['encode_rtf']:>12.4f}{r['decode_rtf']:>12.4f}{r['encode_decode_rtf']:>13.4f}"
              f"{r['spread'] * 100:>7.0f}%{r['peak_rss_mb']:>9.0f}")
    print(f"laura_codec RTF / EnCodec RTF = {codec_ratio:.2f}x (target <= 0.5: {verdict(codec_ratio <= 0.5)}); "
          f"in the frequency domain {freq_ratio:.2f}x ({verdict(freq_ratio <= 0.5)})")
    print()
    frames = vocoders["onestep"]["frames"]
    print(f"vocoders, paper size, n_q = {shared.n_q}, {frames} frames ({args.seconds:g} s)")
    print(f"{'vocoder':<11}{'params':>12}{'predictor s':>13}{'codec decoder s':>17}{'synthesis s':>13}{'spread':>8}"
          f"{'synthesis s, freq decoder':>27}")
    for name, r in vocoders.items():
        print(f"{name:<11}{r['parameters']:>12,}{r['predictor_s']:>13.3f}{r['codec_decoder_s']:>17.3f}"
              f"{r['synthesis_s']:>13.3f}{r['spread'] * 100:>7.0f}%{r['synthesis_freq_s']:>27.3f}")
    print(f"multi-step / one-step: predictor {predictor_ratio:.1f}x, end to end with the shared codec decoder "
          f"{synthesis_ratio:.1f}x (target >= 15: {verdict(synthesis_ratio >= 15)}); through the frequency-domain "
          f"decoder {freq_synthesis_ratio:.1f}x ({verdict(freq_synthesis_ratio >= 15)})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
