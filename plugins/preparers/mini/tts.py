"""TTS: English sentences in one clean voice (flite slt: single-speaker TTS) and in 299 voices of their
own for prompted zero-shot TTS (``TTS_VOICES``). Those voices are dealt out per split, so dev and test
speakers are unseen in training (239 train, 30 dev, 30 test speakers with the default split fractions);
the speaker is in each supervision, to pick prompts by. Every dev and test utterance has a fixed voice
prompt (``prompt``, ``prompt_text``): another utterance of its speaker, drawn by the corpus seed, so
every run and every model is judged on the same pairs (LauraTTS's protocol)."""
from __future__ import annotations

from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini.context import Context, remaining
from laura_plugins.preparers.mini.cuts import Utterance
from laura_plugins.preparers.mini.speech import CLEAN_VOICE, TTS_VOICES
from laura_plugins.preparers.mini.utterances import spoken_utterance

SINGLE = 0.4  # of each split


def build(ctx: Context) -> dict[str, list[Utterance]]:
    single = ctx.pick(ctx.materials.sentences, str, ctx.counts(SINGLE))
    multi = ctx.pick(ctx.materials.sentences, str, remaining(ctx.counts(), single))
    voices = ctx.deal(TTS_VOICES)
    out = {}
    for split in SPLITS:
        out[split] = [spoken_utterance("tts", f"single-{split}-{i:05d}", text, CLEAN_VOICE)
                      for i, text in enumerate(single[split])]
        # round robin: every held-out speaker gets several utterances, one to prompt with, others to say
        out[split] += [spoken_utterance("tts", f"multi-{split}-{i:05d}", text, voices[split][i % len(voices[split])])
                       for i, text in enumerate(multi[split])]
    for split in ("dev", "test"):
        add_prompts(out[split], ctx)
    return out


def add_prompts(utterances: list[Utterance], ctx: Context) -> None:
    """Give each utterance another utterance of its speaker as its voice prompt."""
    by_speaker: dict[str, list[Utterance]] = {}
    for utt in utterances:
        by_speaker.setdefault(utt.speaker, []).append(utt)
    for utt in utterances:
        others = [o for o in by_speaker[utt.speaker] if o.id != utt.id]
        if others:
            prompt = others[int(ctx.rng.integers(len(others)))]
            utt.custom.update(prompt=prompt.audio, prompt_text=prompt.text)
