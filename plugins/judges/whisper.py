"""The Whisper ASR judge: OpenAI Whisper run by faster-whisper (CTranslate2) on a local model, the
kind of judge TTS papers report (LauraTTS and VALL-E use Whisper or Paraformer transcripts).

``model_dir`` is a CTranslate2 Whisper directory or a packaged model's name (``base``, the default,
and ``tiny.en``: see ``laura_plugins.whisper_models``). Decoding is deterministic: beam search at
temperature 0, each utterance alone, no previous-text conditioning, no voice-activity filter.
The identity records the model's hash and every setting, so a WER states which judge made it.
Utterances are transcribed ``workers`` at a time, one thread each: Whisper pads every utterance to
30 s, and on a few cores two single-threaded encoders outrun one two-threaded one (1.3x on 2 cores).
Transcripts are kept by the recording's content and the judge's settings for the life of the process:
``laura score --dir`` may score one recording in several folders (a set and a part of it).
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Sequence

import numpy as np

from laura_core import hookimpl
from laura_core.errors import ConfigError
from laura_core.scoring.judge import ContentMemo
from laura_core.scoring.metrics.audio import is_silent
from laura_plugins.whisper_models import resolve


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class WhisperJudge:
    sample_rate = 16000
    _known = ContentMemo(100_000)  # transcripts by settings and content, shared by every instance

    def __init__(self, model_dir: str = "base", language: str = "en", beam_size: int = 5,
                 compute_type: str = "float32", workers: int = 0, cpu_threads: int = 1):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise ConfigError("the whisper judge needs faster-whisper: pip install faster-whisper") from None
        path = resolve(model_dir)
        if not (path / "model.bin").is_file():
            raise ConfigError(f"whisper judge: {path} is not a CTranslate2 Whisper directory (no model.bin)")
        self.name, self.language, self.beam_size, self.compute_type = model_dir, language, beam_size, compute_type
        self._hash = file_digest(path / "model.bin")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.workers = workers or cores  # 0: one worker per core this process may use
        self._model = WhisperModel(str(path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads,
                                   num_workers=self.workers)

    def identity(self) -> str:
        return (f"whisper {self.name} (model.bin sha256 {self._hash}; faster-whisper {version('faster-whisper')}, "
                f"ctranslate2 {version('ctranslate2')}; {self.compute_type}, beam {self.beam_size}, "
                f"language {self.language}, temperature 0)")

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[str]:
        waves = [np.ascontiguousarray(w, dtype=np.float32) for w in waves]

        def transcribe_new(new: list[np.ndarray]) -> list[str]:
            with ThreadPoolExecutor(self.workers) as pool:
                return list(pool.map(self._transcribe_one, new))

        # Keyed by identity(): the model and every setting that shapes a transcript.
        return self._known.get(self.identity(), waves, transcribe_new)

    def _transcribe_one(self, wave: np.ndarray) -> str:
        if is_silent(wave):  # Whisper, too, hallucinates words in silence
            return ""
        segments, _ = self._model.transcribe(wave, language=self.language, beam_size=self.beam_size,
                                             temperature=0.0, condition_on_previous_text=False,
                                             vad_filter=False, without_timestamps=True)
        return " ".join(s.text.strip() for s in segments).strip()


def available() -> bool:
    """Whether the default whisper judge can run here (faster-whisper and the packaged model)."""
    try:
        import faster_whisper  # noqa: F401

        resolve("base")
    except (ImportError, ConfigError):
        return False
    return True


@hookimpl
def register_components(register):
    register("judge", "whisper", WhisperJudge,
             "Whisper ASR judge (faster-whisper on a local CTranslate2 model; packaged: base, tiny.en)")
