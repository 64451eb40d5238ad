"""MT (text only): Bible verses English -> Spanish (World English Bible, Reina-Valera 1909) and Fish
Fillets dialogue lines Czech and Dutch -> English."""
from __future__ import annotations

from dataclasses import replace

from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini.context import Context
from laura_plugins.preparers.mini.cuts import Utterance
from laura_plugins.preparers.mini.sources import Verse
from laura_plugins.preparers.mini.utterances import line_utterance, slug


def build(ctx: Context) -> dict[str, list[Utterance]]:
    verses = ctx.pick(ctx.materials.verses, lambda v: v.english, ctx.counts(1 / 2))
    out = {split: [verse_utterance(v) for v in verses[split]] for split in SPLITS}
    for language in ("cs", "nl"):
        lines = ctx.pick(ctx.materials.lines(language), lambda line: line.english, ctx.counts(1 / 4))
        for split in SPLITS:
            out[split] += [line_utterance(replace(line, path=None), translation=line.english, target_language="en")
                           for line in lines[split]]
    return out


def verse_utterance(verse: Verse) -> Utterance:
    custom = {"translation": verse.spanish, "target_language": "es"}
    return Utterance(slug("bible", verse.ref), verse.english, "en", custom=custom)
