"""The judge interfaces: models that score generated audio, each part of the number it gives, so
``identity`` names the model and version and is recorded with every score.

    judge           ASR: transcribes audio (tts WER/CER)
    speaker_judge   speaker embeddings: whose voice it is (tts SIM)
    quality_judge   non-intrusive quality: a MOS estimate with no reference (se DNSMOS)
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Judge(Protocol):
    sample_rate: int  # the rate ``transcribe`` expects; callers resample to it

    def identity(self) -> str:
        """Model name, version and settings: enough to reproduce the transcripts."""

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[str]:
        """Transcribe mono float32 waveforms at ``sample_rate``; one string per wave ("" for silence)."""


@runtime_checkable
class SpeakerJudge(Protocol):
    sample_rate: int

    def identity(self) -> str:
        """Model name, version and settings."""

    def embed(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """Unit-length speaker embeddings ``[N, D]`` of mono float32 waveforms at ``sample_rate``."""


@runtime_checkable
class QualityJudge(Protocol):
    sample_rate: int
    scores: tuple[str, ...]  # the names of what ``rate`` returns per wave, e.g. ("ovrl", "sig", "bak")

    def identity(self) -> str:
        """Model name, version and settings."""

    def rate(self, waves: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """One dict of ``scores`` per mono float32 waveform at ``sample_rate``."""


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``[N, D]`` arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)


class ContentMemo:
    """A judge's results kept by its settings and each waveform's content, for the life of the process:
    ``laura score --dir`` scores several folders against the same references and prompts, and a subset
    of a folder again. Emptied whole when it would hold more than ``max_items``."""

    def __init__(self, max_items: int):
        self.max_items = max_items
        self._known: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._known)

    def get(self, settings: str, waves: Sequence[np.ndarray],
            compute: Callable[[list[np.ndarray]], Sequence[Any]]) -> list[Any]:
        """One result per wave: kept ones as kept, the others from ``compute`` (each distinct one once)."""
        keys = [f"{settings}:{hashlib.blake2b(np.ascontiguousarray(w).tobytes(), digest_size=16).hexdigest()}"
                for w in waves]
        new = {k: w for k, w in zip(keys, waves) if k not in self._known}
        if len(self._known) + len(new) > self.max_items:
            self._known.clear()
            new = dict(zip(keys, waves))
        self._known.update(zip(new, compute(list(new.values()))))
        return [self._known[k] for k in keys]
