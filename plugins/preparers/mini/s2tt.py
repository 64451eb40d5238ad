"""S2TT: real speech in four languages, translated to English: Asterisk prompts in Spanish and French
(the English transcript of the same prompt id is the translation) and Fish Fillets lines spoken in
Czech and Dutch (the game's English line is the translation)."""
from __future__ import annotations

import math

from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini.context import Context, remaining
from laura_plugins.preparers.mini.cuts import Utterance
from laura_plugins.preparers.mini.splits import text_key
from laura_plugins.preparers.mini.utterances import line_utterance, prompt_utterance

PROMPTS = 1 / 4  # per language, as far as the prompts go; Fish Fillets lines make up the rest


def build(ctx: Context) -> dict[str, list[Utterance]]:
    out: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    for language in ("es", "fr"):
        # a prompt that reads the same in both languages ("s", "no") teaches no translating
        candidates = [p for p in ctx.materials.prompts(language) if text_key(p.text) != text_key(p.english)]
        for split, prompts in ctx.pick(candidates, lambda p: p.english, ctx.counts(PROMPTS)).items():
            out[split] += [prompt_utterance(p, translation=p.english, target_language="en") for p in prompts]
    half = {s: math.ceil(n / 2) for s, n in remaining(ctx.counts(), out).items()}
    for language in ("cs", "nl"):
        for split, lines in ctx.pick(ctx.materials.spoken_lines(language), lambda line: line.english, half).items():
            out[split] += [line_utterance(line, translation=line.english, target_language="en") for line in lines]
    return out
