"""SE: real English speech (Asterisk prompts) mixed with noise at 0-15 dB SNR, paired with the clean
speech. The noise is a recorded ambience (the background sounds of the sound table: water, lava,
fire, a furnace, hums, vinyl hiss; files dealt out per split) or noise made from a seed (white,
pink, brown, mains hum). A prompt used more than once gets another noise each time."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from laura_plugins.preparers.mini.audio import RATE, fit, load, rms
from laura_plugins.preparers.mini.context import Context
from laura_plugins.preparers.mini.cuts import Utterance, Wav
from laura_plugins.preparers.mini.sounds import SOUNDS
from laura_plugins.preparers.mini.utterances import PROMPT_SPEAKERS, slug

SNR_DB = (0.0, 15.0)
COLOURS = ("white", "pink", "brown", "hum")


@dataclass(frozen=True)
class Noise:
    seed: int
    path: str | None = None  # a recorded ambience, looped from a random point; None: coloured noise
    colour: str = ""

    @property
    def name(self) -> str:
        return next(s.label for s in SOUNDS if self.path in s.files) if self.path else self.colour

    def render(self, n: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        if self.path:
            wave = load(self.path)
            return fit(wave, n, int(rng.integers(len(wave))))
        return coloured(self.colour, n, rng)


def coloured(colour: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    if colour == "hum":  # mains hum: a 50 or 60 Hz fundamental and its harmonics, over a little hiss
        t = np.arange(n) / RATE
        f0 = (50, 60)[rng.integers(2)]
        return sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 6)) + 0.05 * white
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)  # no boost below 20 Hz
    return np.fft.irfft(spectrum / freqs ** (0.5 if colour == "pink" else 1.0), n)


@dataclass(frozen=True)
class Mixture:
    speech: str
    noise: Noise
    snr_db: float
    part: str = "noisy"  # or "clean": both are scaled alike, so that the mixture does not clip

    def render(self) -> np.ndarray:
        clean = load(self.speech)
        noise = self.noise.render(len(clean)).astype(np.float32)
        noisy = clean + noise * (rms(clean) / (rms(noise) * 10 ** (self.snr_db / 20)))
        scale = min(1.0, 0.99 / (float(np.max(np.abs(noisy))) + 1e-9))
        return (noisy if self.part == "noisy" else clean) * scale


def build(ctx: Context) -> dict[str, list[Utterance]]:
    counts = ctx.counts()
    prompts = ctx.pick(ctx.materials.prompts("en"), lambda p: p.english, counts)
    recorded = ctx.deal([f for sound in SOUNDS if sound.background for f in sound.files])
    out = {}
    for split, n in counts.items():
        chosen = prompts[split]
        noises = [(path, "") for path in recorded[split]] + [(None, colour) for colour in COLOURS]
        out[split] = []
        for i in range(n):
            prompt = chosen[i % len(chosen)]
            path, colour = noises[ctx.rng.integers(len(noises))]
            noise = Noise(int(ctx.rng.integers(2**31)), path, colour)
            noisy = Mixture(prompt.path, noise, round(float(ctx.rng.uniform(*SNR_DB)), 1))
            uid = f"{slug('asterisk', 'en', prompt.id)}-{i // len(chosen)}"
            custom = {"clean": Wav(f"audio/se/clean/{uid}.wav", replace(noisy, part="clean")),
                      "noise": noise.name, "snr_db": noisy.snr_db}
            audio = Wav(f"audio/se/noisy/{uid}.wav", noisy)
            out[split].append(Utterance(uid, prompt.text, "en", PROMPT_SPEAKERS["en"], audio, custom))
    return out
