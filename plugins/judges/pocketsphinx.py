"""An offline English ASR judge: CMU PocketSphinx with the US English acoustic model, dictionary and
language model that ship inside the ``pocketsphinx`` wheel, so it runs with no download.

It is a weak recogniser next to the Whisper or Paraformer judges papers use; it stands in until the
toolkit's own ASR model can judge, and its identity is recorded with every score it gives.
"""
from __future__ import annotations

from importlib.metadata import version
from typing import Sequence

import numpy as np

from laura_core import hookimpl
from laura_core.scoring.metrics.audio import is_silent


class PocketSphinxJudge:
    sample_rate = 16000

    def __init__(self, **decoder_options):
        from pocketsphinx import Decoder

        self._options = decoder_options
        self._decoder = Decoder(samprate=self.sample_rate, **decoder_options)

    def identity(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in sorted(self._options.items())) or "default en-us model"
        return f"pocketsphinx {version('pocketsphinx')} ({opts})"

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[str]:
        out = []
        for wave in waves:
            if is_silent(wave):  # PocketSphinx hallucinates words in digital silence
                out.append("")
                continue
            pcm = (np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
            self._decoder.start_utt()
            self._decoder.process_raw(pcm.tobytes(), full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            out.append(hyp.hypstr if hyp is not None else "")
        return out


@hookimpl
def register_components(register):
    register("judge", "pocketsphinx", PocketSphinxJudge, "offline English ASR judge (PocketSphinx, bundled model)")
