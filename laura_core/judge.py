"""The ASR-judge interface: a component (kind ``judge``) that transcribes generated audio.

TTS is scored by the error rate of a judge's transcript, so the judge is part of the number:
``identity`` names the model and version and is recorded with every score.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Judge(Protocol):
    sample_rate: int  # the rate ``transcribe`` expects; callers resample to it

    def identity(self) -> str:
        """Model name, version and settings: enough to reproduce the transcripts."""

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[str]:
        """Transcribe mono float32 waveforms at ``sample_rate``; one string per wave ("" for silence)."""
