"""AAC: scenes of one to three labelled sounds, each with five reference captions written from
templates.

A scene is a sequence of events (a door, glass, footsteps, drums), optionally over a steady
background (water, fire, a hum). Sound files are dealt out per split, so no scene of dev or test
reuses a file heard in training; a sound with fewer than three files appears in training only.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from laura_plugins.preparers.mini.audio import RATE, fit, load
from laura_plugins.preparers.mini.context import Context
from laura_plugins.preparers.mini.cuts import Utterance, Wav
from laura_plugins.preparers.mini.sounds import SOUNDS, Sound

CAPTIONS = 5
MAX_EVENT_SECONDS = 4.0  # long loops are cut, with a fade
FADE_SECONDS = 0.02


@dataclass(frozen=True)
class Placed:
    path: str
    start: float  # seconds into the scene
    seconds: float  # how long it plays: cut, or looped (backgrounds), to this
    peak: float  # its level


@dataclass(frozen=True)
class Scene:
    sounds: tuple[Placed, ...]
    seconds: float

    def render(self) -> np.ndarray:
        out = np.zeros(round(self.seconds * RATE), dtype=np.float32)
        for p in self.sounds:
            source = load(p.path)
            wave = fit(source, round(p.seconds * RATE)) * (p.peak / (np.max(np.abs(source)) + 1e-9))
            fade = min(round(FADE_SECONDS * RATE), len(wave) // 2)
            if fade:
                ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
                wave[:fade] *= ramp
                wave[-fade:] *= ramp[::-1]
            start = round(p.start * RATE)
            part = wave[:len(out) - start]
            out[start:start + len(part)] += part
        return out * min(1.0, 0.95 / (np.max(np.abs(out)) + 1e-9))


@functools.cache
def seconds_of(path: str) -> float:
    import soundfile as sf

    return sf.info(path).duration


def build(ctx: Context) -> dict[str, list[Utterance]]:
    dealt = {sound: ctx.deal(sound.files) for sound in SOUNDS}
    out = {}
    for split, n in ctx.counts().items():
        pool = {sound: files[split] for sound, files in dealt.items() if files[split]}
        out[split] = []
        for i in range(n):
            scene, background, events = compose(pool, ctx.rng)
            uid = f"scene-{split}-{i:05d}"
            labels = [s.label for s in ([background] if background else []) + events]
            out[split].append(Utterance(uid, None, "en", audio=Wav(f"audio/aac/{uid}.wav", scene),
                                        custom={"captions": captions(background, events, ctx.rng), "labels": labels}))
    return out


def compose(pool: dict[Sound, list[str]], rng: np.random.Generator) -> tuple[Scene, Sound | None, list[Sound]]:
    """A scene of one to three sounds: events in sequence, perhaps over a background."""
    backgrounds = [s for s in pool if s.background]
    foregrounds = [s for s in pool if not s.background]
    n = int(rng.integers(1, 4))
    background = backgrounds[rng.integers(len(backgrounds))] if backgrounds and rng.random() < 0.4 else None
    k = min(n - (background is not None), len(foregrounds))
    events = [foregrounds[i] for i in rng.choice(len(foregrounds), size=k, replace=False)]
    placed, t = [], float(rng.uniform(0.2, 0.6))
    for event in events:
        files, peak = pool[event], float(rng.uniform(0.4, 0.8))
        for _ in range(int(rng.integers(event.repeat[0], event.repeat[1] + 1))):
            path = files[rng.integers(len(files))]
            seconds = min(seconds_of(path), MAX_EVENT_SECONDS)
            placed.append(Placed(path, round(t, 3), round(seconds, 3), round(peak, 3)))
            t += seconds + float(rng.uniform(0.05, 0.25))
        t += float(rng.uniform(0.3, 0.9))
    length = round(max(t, 3.0) if events else float(rng.uniform(4.0, 8.0)), 3)
    if background:
        files = pool[background]
        peak = rng.uniform(0.15, 0.3) if events else rng.uniform(0.4, 0.8)  # under events, or alone
        placed.insert(0, Placed(files[rng.integers(len(files))], 0.0, length, round(float(peak), 3)))
    return Scene(tuple(placed), length), background, events


def captions(background: Sound | None, events: list[Sound], rng: np.random.Generator) -> list[str]:
    """Up to CAPTIONS different captions of one scene."""
    out: list[str] = []
    for _ in range(20 * CAPTIONS):
        text = _caption(background, events, rng)
        text = text[0].upper() + text[1:] + "."
        if text not in out:
            out.append(text)
        if len(out) == CAPTIONS:
            break
    return out


def _caption(background: Sound | None, events: list[Sound], rng: np.random.Generator) -> str:
    def pick(options):
        return options[rng.integers(len(options))]

    if not events:
        clause, phrase = pick(background.clauses), pick(background.phrases)
        return pick((clause, f"the sound of {phrase}", f"{phrase} can be heard", f"a steady sound of {phrase}"))
    clauses = _in_sequence([pick(e.clauses) for e in events], pick)
    phrases = _listed([pick(e.phrases) for e in events], pick)
    if background is None:
        return pick((clauses, phrases, f"the sound of {phrases}", f"{phrases} can be heard"))
    bg_clause, bg_phrase = pick(background.clauses), pick(background.phrases)
    return pick((f"{clauses} while {bg_clause}", f"{phrases} over {bg_phrase}",
                 f"{phrases} with {bg_phrase} in the background", f"{bg_clause} while {clauses}"))


def _in_sequence(clauses: list[str], pick) -> str:
    if len(clauses) == 1:
        return clauses[0]
    if len(clauses) == 2:
        return pick(("{}, then {}", "{} and then {}", "{} before {}")).format(*clauses)
    return pick(("{}, {}, and then {}", "{}, then {} and {}")).format(*clauses)


def _listed(phrases: list[str], pick) -> str:
    if len(phrases) == 1:
        return phrases[0]
    if len(phrases) == 2:
        return "{} followed by {}".format(*phrases)
    return pick(("{}, then {} and {}", "{} followed by {} and {}")).format(*phrases)
