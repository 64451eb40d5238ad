"""The quality judge: Microsoft's DNSMOS P.835 (speech quality SIG, background BAK, overall OVRL, on
the 1-5 MOS scale) and its P.808 overall score, by the ONNX models the ``speechmos`` wheel ships, run
with onnxruntime. Non-intrusive: it needs no clean reference, so it also rates what a codec cannot
reproduce sample by sample. Clips are rated in 9 s windows (shorter ones are repeated to 9 s), as
the DNS Challenge's own script does.
"""
from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import Sequence

import numpy as np

from laura_core import hookimpl
from laura_core.errors import ConfigError

SCORES = {"ovrl_mos": "ovrl", "sig_mos": "sig", "bak_mos": "bak", "p808_mos": "p808"}


class DnsmosJudge:
    sample_rate = 16000
    scores = tuple(SCORES.values())

    def __init__(self, personalized: bool = False):
        try:
            from speechmos import dnsmos
        except ImportError:
            raise ConfigError("the dnsmos quality judge needs speechmos: pip install speechmos") from None
        self._run, self.personalized = dnsmos.run, personalized
        models = Path(dnsmos.__file__).parent
        digest = hashlib.sha256()
        for name in ("dnsmos_models/model_v8.onnx",
                     "pdnsmos_models/sig_bak_ovr.onnx" if personalized else "dnsmos_models/sig_bak_ovr.onnx"):
            digest.update((models / name).read_bytes())
        self._hash = digest.hexdigest()[:16]

    def identity(self) -> str:
        kind = "personalized " if self.personalized else ""
        return (f"dnsmos {kind}P.835 + P.808 (speechmos {version('speechmos')}, onnxruntime "
                f"{version('onnxruntime')}, models sha256 {self._hash})")

    def rate(self, waves: Sequence[np.ndarray]) -> list[dict[str, float]]:
        out = []
        for wave in waves:
            wave = np.asarray(wave, dtype=np.float32)
            if not len(wave) or not np.any(wave):
                out.append({name: 1.0 for name in self.scores})  # nothing said: the floor of the scale
                continue
            peak = float(np.abs(wave).max())
            wave = wave / peak if peak > 1.0 else wave  # the models take [-1, 1] audio
            result = self._run(wave, self.sample_rate, model_type="dnsmos_personalized" if self.personalized
                               else "dnsmos")
            out.append({short: float(result[key]) for key, short in SCORES.items()})
        return out


@hookimpl
def register_components(register):
    register("quality_judge", "dnsmos", DnsmosJudge,
             "DNSMOS P.835/P.808 non-intrusive MOS (ONNX models of the speechmos wheel)")
