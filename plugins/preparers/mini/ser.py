"""SER: English sentences spoken in four emotions by espeak-ng voices. Each emotion is a prosody
preset (pitch, pitch range, rate, loudness) with a little random spread, and every sentence is spoken
in all four by one voice, so the label is in the sound, never in the words. Voices are dealt out per
split: dev and test speakers are unseen in training, which also has 47 voices of its own
(``SER_TRAIN_VOICES``)."""
from __future__ import annotations

import math

import numpy as np

from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini.context import Context
from laura_plugins.preparers.mini.cuts import Utterance
from laura_plugins.preparers.mini.speech import ESPEAK_VOICES, NEUTRAL, SER_TRAIN_VOICES, Prosody
from laura_plugins.preparers.mini.utterances import spoken_utterance

EMOTIONS = {
    "neutral": NEUTRAL,
    "happy": Prosody(pitch=35, range=180, rate=115, volume=110),
    "sad": Prosody(pitch=-25, range=30, rate=75, volume=60),
    "angry": Prosody(pitch=10, range=140, rate=125, volume=170),
}
SPREAD = 0.05  # relative random spread of each preset value
MAX_CHARS = 90


def spread(preset: Prosody, rng: np.random.Generator) -> Prosody:
    def vary(value: float, scale: float) -> int:
        return round(value + scale * SPREAD * float(rng.uniform(-1, 1)))

    return Prosody(vary(preset.pitch, 100), vary(preset.range, preset.range), vary(preset.rate, preset.rate),
                   vary(preset.volume, preset.volume))


def build(ctx: Context) -> dict[str, list[Utterance]]:
    sentences = [s for s in ctx.materials.sentences if len(s) <= MAX_CHARS]
    per_split = {s: math.ceil(n / len(EMOTIONS)) for s, n in ctx.counts().items()}
    chosen = ctx.pick(sentences, str, per_split)
    voices = ctx.deal(ESPEAK_VOICES)
    voices["train"] = voices["train"] + list(SER_TRAIN_VOICES)
    out = {}
    for split in SPLITS:
        out[split] = []
        for i, text in enumerate(chosen[split]):
            voice = voices[split][ctx.rng.integers(len(voices[split]))]
            out[split] += [spoken_utterance("ser", f"{split}-{i:05d}-{emotion}", text, voice, spread(preset, ctx.rng),
                                            emotion=emotion) for emotion, preset in EMOTIONS.items()]
    return out
