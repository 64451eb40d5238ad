"""ASR: real English telephone prompts (Asterisk, one speaker) and synthetic English sentences in
many voices, rates and pitches."""
from __future__ import annotations

from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini.context import Context, remaining
from laura_plugins.preparers.mini.cuts import Utterance
from laura_plugins.preparers.mini.speech import VOICES, varied
from laura_plugins.preparers.mini.utterances import prompt_utterance, spoken_utterance

REAL = 1 / 3  # of each split, as far as the prompts go


def build(ctx: Context) -> dict[str, list[Utterance]]:
    real = ctx.pick(ctx.materials.prompts("en"), key=lambda p: p.english, counts=ctx.counts(REAL))
    synthetic = ctx.pick(ctx.materials.sentences, key=str, counts=remaining(ctx.counts(), real))
    out = {}
    for split in SPLITS:
        out[split] = [prompt_utterance(p) for p in real[split]]
        for i, text in enumerate(synthetic[split]):
            voice = VOICES[ctx.rng.integers(len(VOICES))]
            out[split].append(spoken_utterance("asr", f"synth-{split}-{i:05d}", text, voice, varied(voice, ctx.rng)))
    return out
