"""Synthetic English speech: espeak-ng and flite voices, with prosody controls.

Both synthesisers are deterministic, so a spoken sentence is a pure function of its spec. Each
utterance is brought to one loudness and then scaled by ``Prosody.volume``, so loudness means the
same thing for every voice (SER uses it as a cue).
"""
from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from laura_core.errors import DataError
from laura_plugins.preparers.mini.audio import resample, rms

LOUDNESS = 0.06  # RMS of a neutral utterance (about -24 dBFS)


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak-ng" or "flite"
    name: str  # espeak-ng: language+variant, e.g. "en-gb+f3"; flite: a built-in voice

    @property
    def speaker(self) -> str:
        return f"{self.engine}/{self.name}"


ESPEAK_VOICES = tuple(Voice("espeak-ng", f"{accent}+{variant}") for accent, variant in (
    ("en-us", "m3"), ("en-us", "f2"), ("en-gb", "m1"), ("en-gb", "f3"), ("en-gb-scotland", "m2"),
    ("en-gb-x-rp", "f1"), ("en-gb-x-rp", "m5"), ("en-gb-x-gbclan", "m4"), ("en-gb-x-gbcwmd", "f4"),
    ("en-029", "m7"), ("en-us-nyc", "f5"), ("en-us", "m6"),
))
CLEAN_VOICE = Voice("flite", "slt")  # the single-speaker TTS voice: the most natural one here
FLITE_VOICES = (CLEAN_VOICE, Voice("flite", "rms"), Voice("flite", "awb"), Voice("flite", "kal16"))
VOICES = ESPEAK_VOICES + FLITE_VOICES

# The zero-shot TTS speakers: 51 espeak-ng voice variants, each with one of eight accents, and none a voice
# that another task speaks with, so a held-out tts speaker is heard nowhere in training. The variants are
# those whose Resemblyzer embeddings stay below 0.86 cosine similarity to each other's (mean over three
# sentences; 0.62 on average, against 0.91 between two sentences of one variant), so no two are one
# voice twice; robotic, whispered and novelty variants are left out.
TTS_VARIANTS = (
    "Alicia", "anika", "zac", "steph3", "marcelo", "linda", "Marco", "iven", "belinda", "boris", "travis",
    "shelby", "david", "aunty", "Annie", "AnxiousAndy", "Lee", "edward2", "Andrea", "pablo", "norbert",
    "grandma", "adam", "Hugo", "Jacky", "RicishayMax2", "quincy", "edward", "pedro", "Nguyen", "Storm",
    "Michael", "iven4", "m8", "sandro", "Tweaky", "klatt4", "rob", "Andy", "antonio", "victor", "RicishayMax",
    "john", "Diogo", "Gene2", "Denis", "paul", "ed", "Alex", "max", "Mike",
)
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
TTS_VOICES = tuple(Voice("espeak-ng", f"{ACCENTS[i % len(ACCENTS)]}+{variant}")
                   for i, variant in enumerate(TTS_VARIANTS))


@dataclass(frozen=True)
class Prosody:
    pitch: float = 0.0  # percent change of the voice's pitch
    range: float = 100.0  # pitch range, percent of the voice's own
    rate: float = 100.0  # speaking rate, percent
    volume: float = 100.0  # loudness, percent of LOUDNESS

    def ssml(self, text: str) -> str:
        return (f'<speak><prosody pitch="{self.pitch:+.0f}%" range="{self.range:.0f}%" rate="{self.rate:.0f}%">'
                f"{escape(text)}</prosody></speak>")


NEUTRAL = Prosody()


def varied(voice: Voice, rng: np.random.Generator) -> Prosody:
    """A modest random pitch and rate, so one voice does not always sound the same (flite: rate only)."""
    rate = float(rng.uniform(85, 120))
    if voice.engine == "flite":
        return Prosody(rate=round(rate))
    return Prosody(pitch=round(float(rng.uniform(-15, 15))), rate=round(rate))


@dataclass(frozen=True)
class Spoken:
    text: str
    voice: Voice
    prosody: Prosody = NEUTRAL

    def render(self) -> np.ndarray:
        import soundfile as sf

        if self.voice.engine == "espeak-ng":
            cmd, stdin = ["espeak-ng", "-m", "-v", self.voice.name, "--stdout"], self.prosody.ssml(self.text).encode()
        else:
            if (self.prosody.pitch, self.prosody.range) != (NEUTRAL.pitch, NEUTRAL.range):
                raise ValueError(f"flite voices take rate and volume only, not {self.prosody}")
            stretch = f"duration_stretch={100 / self.prosody.rate:.3f}"
            cmd = ["flite", "-voice", self.voice.name, "--setf", stretch, "-t", self.text, "-o", "/dev/stdout"]
            stdin = None
        out = subprocess.run(cmd, input=stdin, capture_output=True)
        if out.returncode != 0 or len(out.stdout) <= 44:  # a wav header and nothing more
            why = out.stderr.decode(errors="replace").strip()
            raise DataError(f"{self.voice.speaker} could not speak {self.text!r}: {why}")
        wave, rate = sf.read(io.BytesIO(out.stdout), dtype="float32")
        wave = resample(wave, rate)
        return wave * (LOUDNESS * self.prosody.volume / 100 / rms(wave))
