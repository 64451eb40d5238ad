"""Synthetic English speech: espeak-ng and flite voices, with prosody controls.

Both synthesisers are deterministic, so a spoken sentence is a pure function of its spec. Each
utterance is brought to one loudness and then scaled by ``Prosody.volume``, so loudness means the
same thing for every voice (SER uses it as a cue).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from laura_core.errors import DataError
from laura_plugins.preparers.mini.audio import resample, rms

LOUDNESS = 0.06  # RMS of a neutral utterance (about -24 dBFS)


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak-ng" or "flite"
    name: str  # espeak-ng: language+variant, e.g. "en+f3"; flite: a built-in voice
    variant: str = ""  # espeak-ng: the text of a variant file of our own (``generated_variant``); "" = built in

    @property
    def speaker(self) -> str:
        return f"{self.engine}/{self.name}"

    def espeak_args(self) -> list[str]:
        """The espeak-ng options that select this voice."""
        if not self.variant:
            return ["-v", self.name]
        home, variant = variant_home(self.variant)
        return ["--path", str(home), "-v", f"{self.name.split('+')[0]}+{variant}"]


# The zero-shot TTS speakers: espeak-ng's own voice variants and voices of our own (``generated_variant``),
# each with one of eight accents, none a voice that another task speaks with, so that a held-out tts
# speaker is heard nowhere in training. Kept are the voices whose Resemblyzer embeddings stay below 0.86
# cosine similarity to every other kept voice's and to every other task's voice (mean over three sentences;
# 0.61 on average between voices, against 0.90 between two sentences of one voice; measured by
# ``egs/mini/local/tts_voices.py``, which lists the near-twins left out below). Robotic, whispered and
# novelty variants are not candidates. ("en-gb" is not an accent here: espeak-ng 1.51 ignores any variant
# given with it, so every "en-gb+X" is one voice; "en" is the same British English and takes variants.)
TTS_VARIANTS = (
    "Alicia", "anika", "zac", "steph3", "marcelo", "linda", "Marco", "iven", "belinda", "boris", "travis",
    "shelby", "david", "aunty", "Annie", "AnxiousAndy", "Lee", "edward2", "Andrea", "pablo", "norbert",
    "grandma", "adam", "Hugo", "Jacky", "RicishayMax2", "quincy", "edward", "pedro", "Nguyen", "Storm",
    "Michael", "iven4", "m8", "sandro", "Tweaky", "klatt4", "rob", "Andy", "antonio", "victor", "RicishayMax",
    "john", "Diogo", "Gene2", "Denis", "paul", "ed", "Alex", "max", "Mike",
)
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
GENERATED_VOICES = 260  # candidates of our own
NEAR_TWINS = frozenset({  # candidates within 0.86 of a kept one before them in TTS_CANDIDATES, or of another task's
    "en-gb-x-gbcwmd+linda", "en-gb-x-gbcwmd+aunty", "en-gb-scotland+john",  # another task's en+f3 (two); m4
    "en-gb-x-gbclan+laura100", "en-gb-x-rp+laura115", "en-gb-scotland+laura122", "en-us-nyc+laura151",
    "en-us+laura152", "en-gb-x-rp+laura155", "en-gb-scotland+laura186", "en+laura193", "en-029+laura246",
})


def generated_variant(index: int) -> str:
    """An espeak-ng variant file of a voice of our own: pitch, voicing, roughness, breath and the first
    six formants' frequency, height and width, drawn by ``index`` about a male (even) or female (odd)
    vocal tract. Pitch alone does not make another speaker (Resemblyzer: 0.90 between one variant at
    -30% and at +30% pitch, as between two sentences of it); the formants do."""
    rng = np.random.default_rng([0x1A0A, index])
    female = index % 2 == 1
    pitch = rng.uniform(150, 250) if female else rng.uniform(65, 145)
    tract = rng.uniform(98, 125) if female else rng.uniform(80, 106)  # vocal-tract scale, percent
    lines = ["language variant", f"name laura{index:03d}", f"gender {'female' if female else 'male'}",
             f"pitch {pitch:.0f} {pitch * rng.uniform(1.15, 1.8):.0f}"]
    for k in range(6):  # frequency, height, width: percent of the base voice's
        lines.append(f"formant {k} {tract * rng.uniform(0.88, 1.12):.0f} {rng.uniform(50, 150):.0f} "
                     f"{rng.uniform(60, 180):.0f}")
    lines.append(f"voicing {rng.uniform(40, 120):.0f}")
    lines.append(f"roughness {rng.integers(0, 5)}")
    breath = rng.integers(0, 8, 8) if rng.random() < 0.4 else np.zeros(8, int)
    lines.append("breath " + " ".join(str(int(x)) for x in breath))
    return "\n".join(lines) + "\n"


# The voices the other tasks speak with: espeak-ng's own variants, and two of our own (indices past the
# tts candidates') where a built-in one was a near-twin of another of these to Resemblyzer (en-us-nyc+f5
# of en-us+f2, 0.877; en-gb-x-gbcwmd+f4 of en+f3, 0.880), so that a test voice is unheard in training;
# theirs are 0.79 and 0.75 at most to any voice of the corpus (``egs/mini/local/tts_voices.py``).
ESPEAK_VOICES = tuple(
    Voice("espeak-ng", name, generated_variant(int(name[-3:])) if "+laura" in name else "") for name in (
        "en-us+m3", "en-us+f2", "en+m1", "en+f3", "en-gb-scotland+m2", "en-gb-x-rp+f1", "en-gb-x-rp+m5",
        "en-gb-x-gbclan+m4", "en-gb-x-rp+laura283", "en-029+m7", "en-us-nyc+laura279", "en-us+m6"))
CLEAN_VOICE = Voice("flite", "slt")  # the single-speaker TTS voice: the most natural one here
FLITE_VOICES = (CLEAN_VOICE, Voice("flite", "rms"), Voice("flite", "awb"), Voice("flite", "kal16"))
VOICES = ESPEAK_VOICES + FLITE_VOICES

TTS_CANDIDATES = tuple(Voice("espeak-ng", f"{ACCENTS[i % len(ACCENTS)]}+{variant}")
                       for i, variant in enumerate(TTS_VARIANTS)) + tuple(
    Voice("espeak-ng", f"{ACCENTS[i % len(ACCENTS)]}+laura{i:03d}", generated_variant(i)) for i in range(GENERATED_VOICES))
TTS_VOICES = tuple(v for v in TTS_CANDIDATES if v.name not in NEAR_TWINS)

# ser trains on many more voices than asr and slu: with the ten voices of ESPEAK_VOICES' training share
# (seven of them male) the emotions of an unheard female test voice were judged at 0.66-0.70, as
# much by her pitch as by the preset. Voices of our own past the others' indices; the one within 0.86
# of a corpus voice left out (``egs/mini/local/tts_voices.py``).
SER_CANDIDATES = tuple(Voice("espeak-ng", f"{ACCENTS[i % len(ACCENTS)]}+laura{i:03d}", generated_variant(i))
                       for i in range(300, 348))
SER_NEAR_TWINS = frozenset({"en-029+laura326"})  # of en-029+laura086 (tts), 0.874
SER_TRAIN_VOICES = tuple(v for v in SER_CANDIDATES if v.name not in SER_NEAR_TWINS)


@cache
def espeak_data() -> Path:
    """Where the system's espeak-ng data is (``espeak-ng --version`` says)."""
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"Data at:\s*(\S+)", out)
    if not found:
        raise DataError(f"espeak-ng --version does not say where its data is: {out.strip()!r}")
    return Path(found.group(1))


@cache
def variant_home(text: str) -> tuple[Path, str]:
    """A folder for ``espeak-ng --path`` that holds one variant of our own, and the variant's name.

    The system's espeak-ng-data linked entry by entry, with a variants folder holding only this one
    (espeak-ng lists at most 349 voices and variants, and silently falls back to its default voice
    past that). Named by content in the laura cache, made atomically: render processes may race."""
    from laura_plugins.whisper_models import cache_root

    system = espeak_data()
    digest = hashlib.sha256(f"{system}\n{text}".encode()).hexdigest()[:16]
    name, home = f"lv{digest[:12]}", cache_root() / "espeak-ng-variants" / digest
    if not (home / "espeak-ng-data" / "voices" / "!v" / name).is_file():
        home.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=home.parent, prefix=".tmp-"))
        data = tmp / "espeak-ng-data"
        (data / "voices" / "!v").mkdir(parents=True)
        for entry in system.iterdir():
            if entry.name != "voices":
                (data / entry.name).symlink_to(entry)
        for entry in (system / "voices").iterdir():
            if entry.name != "!v":
                (data / "voices" / entry.name).symlink_to(entry)
        (data / "voices" / "!v" / name).write_text(text)
        try:
            tmp.rename(home)
        except OSError:  # another process made it first
            shutil.rmtree(tmp)
    if not (home / "espeak-ng-data" / "voices" / "!v" / name).is_file():  # espeak-ng would fall back silently
        raise DataError(f"{home} lacks the voice variant {name}: delete that folder and build again")
    return home, name


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
            cmd = ["espeak-ng", "-m", *self.voice.espeak_args(), "--stdout"]
            stdin = self.prosody.ssml(self.text).encode()
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
