"""Voice prompts for zero-shot tts, as LauraTTS: another utterance of the target's speaker, whose
transcript precedes the text to speak and whose codec tokens the output continues.

A prompt is at most ``seconds`` long. A longer utterance is cut to its first ``seconds`` and then
gives no text, since its transcript would say more than its audio: training and inference follow
the same rule, so the model never learns to speak the rest of a prompt's sentence.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from laura_core.manifest import CODES, read_cuts


@dataclass
class PromptConfig:
    prob: float = 0.0  # share of a promptable task's training items given a prompt (0: none)
    seconds: float = 3.0  # the longest prompt


@dataclass(frozen=True)
class VoicePrompt:
    codes: tuple[int, ...]  # first-group codec codes
    text: str | None  # the transcript, where the codes are the whole utterance
    # The cropped recording at the codec's rate, for a vocoder that reads a prompt's sound (inference)
    samples: np.ndarray | None = field(default=None, compare=False, repr=False)


def crop(codes: Sequence[int], text: str | None, duration: float, seconds: float,
         samples: np.ndarray | None = None) -> VoicePrompt:
    """At most ``seconds`` of an utterance of ``duration`` seconds (``codes`` at any frame rate; its
    ``samples``, where given, cut to the same share)."""
    frames = int(len(codes) * min(1.0, seconds / duration)) if duration > 0 else len(codes)
    whole = frames >= len(codes)
    if samples is not None and not whole:
        samples = samples[: len(samples) * frames // max(len(codes), 1)]
    return VoicePrompt(tuple(codes[:frames]), text if whole else None, samples)


class PromptPool:
    """The utterances of a manifest by speaker, to draw training prompts from: codes for the LM (coded
    utterances only), recordings for a vocoder that reads a prompt's sound (``need_codes=False``)."""

    def __init__(self, cuts: Iterable, seconds: float, need_codes: bool = True):
        self.seconds = seconds
        self.by_speaker: dict[str, list] = defaultdict(list)
        for cut in cuts:
            speaker = cut.supervisions[0].speaker if cut.supervisions else None
            if speaker and (not need_codes or (cut.custom or {}).get(CODES)):
                self.by_speaker[speaker].append(cut)

    def other(self, cut, rng: random.Random):
        """Another utterance of ``cut``'s speaker; None where the speaker has none."""
        speaker = cut.supervisions[0].speaker if cut.supervisions else None
        others = [o for o in self.by_speaker.get(speaker, ()) if o.id != cut.id]
        return others[rng.randrange(len(others))] if others else None

    def draw(self, cut, rng: random.Random) -> VoicePrompt | None:
        """A prompt from another utterance of ``cut``'s speaker; None where the speaker has none."""
        other = self.other(cut, rng)
        if other is None:
            return None
        return crop(other.custom[CODES], other.supervisions[0].text, other.duration, self.seconds)


def prompt_pools(specs: Iterable, seconds: float, need_codes: bool = True) -> dict[str, PromptPool]:
    """One pool per task of ``specs`` (data config entries: ``task``, ``manifest``) over all of its
    manifests: a task listed twice (its corpus and a pretraining corpus) draws from both."""
    manifests: dict[str, list] = defaultdict(list)
    for spec in specs:
        manifests[spec.task].append(spec.manifest)
    return {task: PromptPool((cut for m in paths for cut in read_cuts(m)), seconds, need_codes)
            for task, paths in manifests.items()}


def pair_prompts(cuts: Sequence, seed: int = 0, field: str = "prompt") -> list:
    """The cuts with a fixed voice prompt each (``field``: another cut's recording of the same speaker,
    ``<field>_text``: its transcript), drawn by ``seed``, so that every run and model is judged on the
    same pairs (LauraTTS's protocol: same speaker, another utterance). A cut whose speaker has no other
    utterance gets none."""
    by_speaker: dict[str, list] = defaultdict(list)
    for cut in cuts:
        if cut.supervisions and cut.supervisions[0].speaker:
            by_speaker[cut.supervisions[0].speaker].append(cut)
    rng = random.Random(seed)
    out = []
    for cut in sorted(cuts, key=lambda c: c.id):
        speaker = cut.supervisions[0].speaker if cut.supervisions else None
        others = sorted((o for o in by_speaker.get(speaker, ()) if o.id != cut.id), key=lambda c: c.id)
        if others:
            other = others[rng.randrange(len(others))]
            cut = cut.with_custom(field, other.recording).with_custom(f"{field}_text", other.supervisions[0].text)
        out.append(cut)
    return out
