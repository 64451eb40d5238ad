"""16 kHz mono audio: decoding what the packages ship, writing wav files, and the audio specs a
task builder hands to the renderer (anything with ``render() -> 16 kHz mono float32``)."""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

RATE = 16000


class Renderable(Protocol):
    def render(self) -> np.ndarray:
        """The waveform: 16 kHz, mono, float32. Pure: the same spec always gives the same samples."""


@functools.lru_cache(maxsize=512)  # scenes and mixtures reuse the same few sound files
def load(path: str) -> np.ndarray:
    """A file as 16 kHz mono float32 (read-only: it is shared through the cache)."""
    if path.endswith(".g722"):
        wave, rate = _decode_g722(path), RATE
    else:
        import soundfile as sf

        data, rate = sf.read(path, dtype="float32", always_2d=True)
        wave = data.mean(axis=1)
    wave = resample(wave, rate)
    wave.flags.writeable = False
    return wave


def _decode_g722(path: str) -> np.ndarray:
    import av  # libsndfile and sox cannot read G.722

    with av.open(path, format="g722") as container:
        pcm = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
    return pcm.astype(np.float32) / 32768


def resample(wave: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return np.asarray(wave, dtype=np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(rate, RATE)
    return resample_poly(wave, RATE // g, rate // g).astype(np.float32)


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) + 1e-9


def fit(wave: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """``n`` samples of ``wave`` from ``start`` on, looping it as often as needed."""
    return np.resize(np.roll(wave, -start), n)


def write_wav(path: Path, wave: np.ndarray) -> int:
    """Write 16-bit PCM through a temporary file; return the number of samples."""
    import soundfile as sf

    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(tmp, np.clip(wave, -1.0, 1.0), RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
    return len(wave)


@dataclass(frozen=True)
class Decoded:
    """A recording shipped by a package, decoded and resampled."""

    path: str

    def render(self) -> np.ndarray:
        return load(self.path)
