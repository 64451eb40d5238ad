"""The speaker judge: Resemblyzer's GE2E speaker encoder (a 3-layer LSTM on 40-band mels, 256-dim
unit embeddings, weights shipped in its wheel). The utterance embedding is the mean of 1.6 s windows,
after Resemblyzer's own preprocessing (volume normalisation, long silences trimmed): tts SIM is the
cosine of two such embeddings. VALL-E and LauraTTS report SIM with a WavLM-TDNN verifier instead,
whose weights no package here ships; figures of the two are not comparable.
"""
from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from laura_core import hookimpl
from laura_core.errors import ConfigError
from laura_core.scoring.judge import ContentMemo
from laura_core.scoring.metrics.audio import is_silent


class ResemblyzerJudge:
    """Embeddings are kept by the recording's content for the life of the process: scoring tts embeds
    each reference and prompt beside every output, and ``laura score --dir`` scores several folders
    (the model, the references, the codec's resynthesis) against the same references and prompts."""

    sample_rate = 16000
    _known = ContentMemo(20_000)  # embeddings (about 20 MB) by content, shared by every instance

    def __init__(self):
        try:
            import resemblyzer
            from resemblyzer import VoiceEncoder
        except ImportError:
            raise ConfigError("the resemblyzer speaker judge needs Resemblyzer: pip install resemblyzer") from None
        weights = Path(resemblyzer.__file__).parent / "pretrained.pt"
        self._hash = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        self._encoder = VoiceEncoder("cpu", verbose=False)
        self._preprocess = resemblyzer.preprocess_wav

    def identity(self) -> str:
        return f"resemblyzer {version('resemblyzer')} (GE2E speaker encoder, pretrained.pt sha256 {self._hash})"

    def embed(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        # Its own precision, whatever the caller's: validation during bf16 training runs under autocast.
        with torch.inference_mode(), torch.autocast("cpu", enabled=False):
            return self._embed(waves)

    def _embed(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        waves = [np.ascontiguousarray(w, dtype=np.float32) for w in waves]
        out = self._known.get(self._hash, waves, lambda new: [self._embed_one(w) for w in new])
        return np.stack(out) if out else np.zeros((0, 256), np.float32)

    def _embed_one(self, wave: np.ndarray) -> np.ndarray:
        kept = self._preprocess(wave) if not is_silent(wave) else wave[:0]
        if len(kept) < self.sample_rate // 10:  # silence has no voice: a zero embedding, similarity 0
            return np.zeros(256, np.float32)
        return self._encoder.embed_utterance(kept)


def available() -> bool:
    try:
        import resemblyzer  # noqa: F401
    except ImportError:
        return False
    return True


@hookimpl
def register_components(register):
    register("speaker_judge", "resemblyzer", ResemblyzerJudge,
             "speaker embeddings by Resemblyzer's GE2E encoder (weights in its wheel)")
