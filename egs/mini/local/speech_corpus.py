#!/usr/bin/env python
"""A speech pretraining corpus for the mini recipe's vocoder and GPT (egs/mini/conf/vocoder_speech.yaml,
gpt_speech.yaml): English sentences the mini corpus does not hold, spoken by voices it does not hold.

LauraGPT learns to speak from hundreds of hours; the mini corpus's tts has 960 training utterances, too
few for the one-step vocoder to learn to fill in from the text what the first codec group lacks, or for
the GPT to learn to speak, in a 30-minute demo. This corpus is what such components can learn from
once, outside the demo (egs/mini/RESULTS.md, rows s1-s3, has what it gave so far).

- Sentences: World English Bible verses of the 60 books the mini corpus does not use (as
  ``text_corpus.py``), tidied as the mini corpus tidies its own (``speakable``); a sentence is left
  out when it matches, case and punctuation aside, any text of any task's dev or test split of the
  mini corpus.
- Voices: flite slt (the mini tts single voice, a training voice there) says ``SINGLE`` of them;
  espeak-ng voices of our own (``generated_variant`` indices from ``FIRST_VOICE``, the eight accents
  in turn) say the rest, each a few dozen, so each has other utterances to prompt with. A candidate
  within 0.86 (Resemblyzer, as ``tts_voices.py``) of any voice of the mini corpus, or of a kept
  candidate before it, is left out (``NEAR_TWINS``; ``--check-voices`` measures them again), so every
  voice held out by the mini corpus stays unheard.

usage: python egs/mini/local/speech_corpus.py data/mini data/mini_speech [--voices 200] [--workers 2]
Writes OUT/tts/{train,dev}.jsonl.gz (lhotse cuts in the mini tts format: dev utterances carry a fixed
voice prompt of their speaker), their audio under OUT/audio, and OUT/README.md with the counts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from laura_core.data.prompts import pair_prompts
from laura_core.io import atomic_write_text
from laura_plugins.preparers.mini.audio import RATE
from laura_plugins.preparers.mini.cuts import to_cut, write_cuts
from laura_plugins.preparers.mini.render import render_all
from laura_plugins.preparers.mini.sentences import english_pool
from laura_plugins.preparers.mini.sources import BIBLE_BOOKS, BIBLE_MODULES, _book
from laura_plugins.preparers.mini.speech import (ACCENTS, CLEAN_VOICE, SER_TRAIN_VOICES, TTS_VOICES, VOICES, Voice,
                                                  generated_variant)
from laura_plugins.preparers.mini.splits import text_key
from laura_plugins.preparers.mini.utterances import spoken_utterance

sys.path.insert(0, str(Path(__file__).parent))
from text_corpus import CANON, held_out_texts  # noqa: E402  (its neighbours here)

FIRST_VOICE = 400  # past every generated voice of the mini corpus (tts 0-259, others 279-283, ser 300-347)
SINGLE = 0.3  # of the sentences, said by flite slt
DEV_VOICES = 4  # whole voices held out for validation (a zero-shot check)
DEV_SINGLE = 100  # and this many of slt's utterances
# Within 0.86 of a voice of the mini corpus or of a kept candidate (``--check-voices``: 175 of 200 kept,
# at most 0.860 to a voice of the mini corpus).
NEAR_TWINS = frozenset({
    "en+laura457", "en+laura473", "en+laura585", "en-029+laura446", "en-029+laura462", "en-029+laura566",
    "en-gb-scotland+laura410", "en-gb-scotland+laura418", "en-gb-scotland+laura538", "en-gb-scotland+laura578",
    "en-gb-x-gbclan+laura452", "en-gb-x-gbclan+laura492", "en-gb-x-gbclan+laura532", "en-gb-x-gbclan+laura548",
    "en-gb-x-gbcwmd+laura429", "en-gb-x-gbcwmd+laura525", "en-gb-x-gbcwmd+laura589", "en-gb-x-rp+laura571",
    "en-us+laura560", "en-us+laura568", "en-us-nyc+laura455", "en-us-nyc+laura495", "en-us-nyc+laura543",
    "en-us-nyc+laura559", "en-us-nyc+laura567",
})


def candidates(count: int) -> list[Voice]:
    return [Voice("espeak-ng", f"{ACCENTS[i % len(ACCENTS)]}+laura{i:03d}", generated_variant(i))
            for i in range(FIRST_VOICE, FIRST_VOICE + count)]


def sentences(held: set[str]) -> list[str]:
    """The speakable English verses of the books mini does not use, none of them held out by mini."""
    verses = []
    for book in CANON:
        if book in BIBLE_BOOKS or book == "Psalms":  # diatheke prints the WEB's Psalms garbled
            continue
        verses += _book(BIBLE_MODULES["en"], book).values()
    return [s for s in english_pool(verses) if text_key(s) not in held]


def check_voices(count: int, threshold: float) -> None:
    """Print the candidates within ``threshold`` of a voice of the mini corpus or of a kept candidate."""
    from tts_voices import embed

    from laura_plugins.judges.resemblyzer import ResemblyzerJudge

    judge = ResemblyzerJudge()
    corpus = [v for v in (*TTS_VOICES, *SER_TRAIN_VOICES, *VOICES) if v.engine == "espeak-ng"]
    mini = np.stack([embed(judge, v) for v in corpus])
    new = candidates(count)
    emb = np.stack([embed(judge, v) for v in new])
    to_mini = np.einsum("aid,bjd->abij", emb, mini).mean((2, 3)).max(1)
    among = np.einsum("aid,bjd->abij", emb, emb).mean((2, 3))
    kept, twins = [], []
    for a, voice in enumerate(new):
        if to_mini[a] >= threshold or any(among[a, b] >= threshold for b in kept):
            twins.append(voice.name)
            print(f"near-twin: {voice.name} ({to_mini[a]:.3f} to the mini corpus)")
        else:
            kept.append(a)
    print(f"{len(kept)} of {count} kept; at most {to_mini[kept].max():.3f} to a voice of the mini corpus")
    print(f"NEAR_TWINS = frozenset({sorted(twins)!r})")


def build(data: Path, out: Path, voice_count: int, workers: int) -> None:
    held = held_out_texts(data)
    if not held:
        raise SystemExit(f"{data}: no dev or test manifests found (laura prepare mini {data} first)")
    texts = sentences(held)
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    voices = [v for v in candidates(voice_count) if v.name not in NEAR_TWINS]
    single = round(len(texts) * SINGLE)
    utts = [spoken_utterance("speech", f"single-{i:05d}", t, CLEAN_VOICE) for i, t in enumerate(texts[:single])]
    utts += [spoken_utterance("speech", f"multi-{i:05d}", t, voices[i % len(voices)])
             for i, t in enumerate(texts[single:])]
    dev_voices = {v.speaker for v in voices[:DEV_VOICES]}
    dev = [u for u in utts if u.speaker in dev_voices] + utts[:DEV_SINGLE]
    dev_ids = {u.id for u in dev}
    train = [u for u in utts if u.id not in dev_ids]
    root = out.resolve()
    samples = render_all((w for u in utts for w in u.wavs()), root, workers)
    write_cuts(out / "tts" / "train.jsonl.gz", [to_cut(u, root, samples) for u in sorted(train, key=lambda u: u.id)])
    write_cuts(out / "tts" / "dev.jsonl.gz", pair_prompts([to_cut(u, root, samples) for u in dev]))  # mini tts's protocol
    hours = {split: sum(samples[u.audio.path] for u in part) / RATE / 3600 for split, part in (("train", train), ("dev", dev))}
    lines = [f"# {out}: speech pretraining corpus (egs/mini/local/speech_corpus.py {data} {out} --voices {voice_count})", "",
             f"{len(texts)} sentences; {len(voices)} voices of our own ({len(NEAR_TWINS)} near-twins left out) and flite slt "
             f"({single} sentences).", "", "| split | utterances | hours |", "|---|---:|---:|",
             f"| train | {len(train)} | {hours['train']:.2f} |", f"| dev | {len(dev)} | {hours['dev']:.2f} |"]
    atomic_write_text(out / "README.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, nargs="?", help="the mini corpus (laura prepare mini DIR)")
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--voices", type=int, default=200, help="candidate voices of our own")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check-voices", action="store_true", help="measure the near-twins and stop")
    parser.add_argument("--threshold", type=float, default=0.86)
    args = parser.parse_args()
    if args.check_voices:
        check_voices(args.voices, args.threshold)
    elif args.data is None or args.out is None:
        parser.error("DATA and OUT are needed (or --check-voices)")
    else:
        build(args.data, args.out, args.voices, args.workers)


if __name__ == "__main__":
    main()
