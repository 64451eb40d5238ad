"""SE: noisy speech -> clean speech (as codec tokens, decoded to audio). Scored against the clean
reference by wide-band PESQ, STOI, ESTOI and SI-SDR, averaged over utterances. A missing output
scores the floor of each metric (PESQ 1.0, STOI/ESTOI 0, SI-SDR -50 dB)."""
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np

from laura_core import hookimpl
from laura_core.audio import read_audio
from laura_core.metrics.audio import pesq_wb, si_sdr, stoi
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


@dataclass
class SeOptions:
    sample_rate: int = 16000  # both signals are read at this rate (wide-band PESQ needs 16000)


class Se(Task):
    name = "se"
    description = "speech enhancement: noisy speech -> clean speech"
    input = Modality.AUDIO
    output = Modality.CODEC
    source_field = "audio"  # the noisy recording
    target_field = "clean"
    ref_fields = (Field("audio", FieldType.AUDIO, "clean reference recording"),)
    metrics = (
        Metric("pesq", "wide-band PESQ (P.862.2), mean", True, "MOS-LQO"),
        Metric("stoi", "STOI, mean", True, "fraction"),
        Metric("estoi", "extended STOI, mean", True, "fraction"),
        Metric("si_sdr", "scale-invariant SDR, mean", True, "dB"),
    )
    Options = SeOptions

    def score(self, pairs, options, registry):
        sr = options.sample_rate
        rows = []
        for p in pairs:
            ref, _ = read_audio(p.ref["audio"], sr)
            est = read_audio(p.hyp["audio"], sr)[0] if p.hyp.get("audio") else np.zeros_like(ref)
            rows.append((pesq_wb(ref, est, sr), stoi(ref, est, sr), stoi(ref, est, sr, extended=True), si_sdr(ref, est)))
        means = np.mean(np.array(rows, dtype=np.float64), axis=0)
        metrics = dict(zip(("pesq", "stoi", "estoi", "si_sdr"), map(float, means)))
        meta = {"sample_rate": sr, "pesq": version("pesq"), "pystoi": version("pystoi")}
        return TaskScore(metrics, meta=meta)


@hookimpl
def register_tasks(register):
    register(Se())
