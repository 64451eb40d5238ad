#!/usr/bin/env python
"""Lay out the bundled example outputs of all eight tasks as an experiment folder for `laura score --dir`.

Text tasks: the hand-written reference/hypothesis pairs under examples/<task>/ are copied.
Audio tasks are rendered here, deterministically, with espeak-ng:
  tts/espeak_example: references spoken by the en-us voice, "generated" speech by the en-gb-x-rp
                      voice (a stand-in system until the model can synthesise);
  se/noisy_baseline:  clean en-us speech, mixed with seeded noise at 5 dB SNR; the hypothesis is the
                      noisy input passed through, the no-enhancement baseline every SE system must beat.

usage: make_example_outputs.py EXP_DIR [--seed N]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from laura_core.audio import read_audio

HERE = Path(__file__).resolve().parent.parent / "examples"
RATE = 16000
TEXT_TASKS = ("asr", "s2tt", "mt", "aac", "ser", "slu")


def speak(text: str, voice: str, out: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        wav, _ = read_audio(raw, RATE)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, wav, RATE, subtype="PCM_16")
    return wav


def sentences(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split("\t", 1)) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def noise_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """Brown-ish noise plus mains hum: stationary, speech-band-overlapping, reproducible."""
    white = rng.standard_normal(n)
    brown = np.cumsum(white)
    brown -= np.convolve(brown, np.ones(400) / 400, mode="same")  # remove the drift
    hum = 0.3 * np.sin(2 * np.pi * 50 * np.arange(n) / RATE)
    noise = brown / (np.std(brown) + 1e-9) + 0.5 * white + hum
    return noise / np.std(noise)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exp", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snr-db", type=float, default=5.0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    for task in TEXT_TASKS:
        dst = args.exp / task / "example"
        dst.mkdir(parents=True, exist_ok=True)
        for name in ("ref.jsonl", "hyp.jsonl"):
            shutil.copy(HERE / task / name, dst / name)

    dst = args.exp / "tts" / "espeak_example"
    refs, hyps = [], []
    for rid, text in sentences(HERE / "tts" / "sentences.txt"):
        speak(text, "en-us", dst / "reference" / f"{rid}.wav")
        speak(text, "en-gb-x-rp", dst / "generated" / f"{rid}.wav")
        refs.append({"id": rid, "text": text, "audio": f"reference/{rid}.wav"})
        hyps.append({"id": rid, "audio": f"generated/{rid}.wav"})
    write_jsonl(dst / "ref.jsonl", refs)
    write_jsonl(dst / "hyp.jsonl", hyps)

    dst = args.exp / "se" / "noisy_baseline"
    refs, hyps = [], []
    for rid, text in sentences(HERE / "se" / "sentences.txt"):
        clean = speak(text, "en-us", dst / "clean" / f"{rid}.wav")
        noise = noise_like(len(clean), rng)
        gain = np.sqrt(np.mean(clean**2) / (np.mean(noise**2) * 10 ** (args.snr_db / 10)))
        noisy = clean + gain * noise
        noisy /= max(1.0, np.max(np.abs(noisy)) / 0.99)
        (dst / "noisy").mkdir(exist_ok=True)
        sf.write(dst / "noisy" / f"{rid}.wav", noisy, RATE, subtype="PCM_16")
        refs.append({"id": rid, "audio": f"clean/{rid}.wav"})
        hyps.append({"id": rid, "audio": f"noisy/{rid}.wav"})
    write_jsonl(dst / "ref.jsonl", refs)
    write_jsonl(dst / "hyp.jsonl", hyps)
    print(f"example outputs of {len(TEXT_TASKS) + 2} tasks laid out under {args.exp}")


if __name__ == "__main__":
    main()
