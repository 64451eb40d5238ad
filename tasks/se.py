"""SE: noisy speech -> clean speech (as codec tokens, decoded to audio). Scored against the clean
reference by wide-band PESQ, STOI, ESTOI and SI-SDR, averaged over utterances, and without a
reference by a quality judge's MOS estimates (``quality_judge``, by default DNSMOS P.835: overall,
speech and background quality, and P.808), which also rate what a codec cannot reproduce sample by
sample. A missing output scores the floor of each metric (PESQ 1.0, STOI/ESTOI 0, SI-SDR -50 dB,
MOS 1)."""
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np

from laura_core import hookimpl
from laura_core.audio import read_audio
from laura_core.errors import ConfigError, RegistryError
from laura_core.scoring.metrics.audio import pesq_wb, si_sdr, stoi
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


@dataclass
class SeOptions:
    sample_rate: int = 16000  # both signals are read at this rate (wide-band PESQ needs 16000)
    quality_judge: str = "dnsmos"  # "none" skips the non-intrusive scores
    quality_judge_options: dict[str, Any] = field(default_factory=dict)


MOS = ("ovrl", "sig", "bak", "p808")  # the quality judge's scores, reported as dnsmos_<name>


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
        Metric("dnsmos_ovrl", "DNSMOS P.835 overall quality, no reference, mean", True, "MOS 1-5"),
        Metric("dnsmos_sig", "DNSMOS P.835 speech quality, mean", True, "MOS 1-5"),
        Metric("dnsmos_bak", "DNSMOS P.835 background-noise quality, mean", True, "MOS 1-5"),
        Metric("dnsmos_p808", "DNSMOS P.808 overall quality, mean", True, "MOS 1-5"),
    )
    Options = SeOptions

    def score(self, pairs, options, registry):
        sr = options.sample_rate
        rows, estimates = [], []
        for p in pairs:
            ref, _ = read_audio(p.ref["audio"], sr)
            est = read_audio(p.hyp["audio"], sr)[0] if p.hyp.get("audio") else np.zeros_like(ref)
            rows.append((pesq_wb(ref, est, sr), stoi(ref, est, sr), stoi(ref, est, sr, extended=True), si_sdr(ref, est)))
            estimates.append(est if p.hyp.get("audio") else None)
        means = np.mean(np.array(rows, dtype=np.float64), axis=0)
        metrics = dict(zip(("pesq", "stoi", "estoi", "si_sdr"), map(float, means)))
        meta = {"sample_rate": sr, "pesq": version("pesq"), "pystoi": version("pystoi")}
        unavailable = self._quality(pairs, estimates, options, registry, metrics, meta)
        return TaskScore(metrics, unavailable=unavailable, meta=meta)

    def _quality(self, pairs, estimates, options, registry, metrics, meta) -> dict[str, str]:
        names = [f"dnsmos_{m}" for m in MOS]
        metrics.update(dict.fromkeys(names))
        if options.quality_judge == "none":
            return dict.fromkeys(names, "quality_judge is none")
        try:
            judge = registry.create("quality_judge", options.quality_judge, **options.quality_judge_options)
        except (ConfigError, RegistryError) as e:
            return dict.fromkeys(names, f"quality judge {options.quality_judge}: {e}")
        if not set(MOS) <= set(judge.scores):
            return dict.fromkeys(names, f"quality judge {options.quality_judge} gives {judge.scores}, not {MOS}")
        said = [(p, est if judge.sample_rate == options.sample_rate else read_audio(p.hyp["audio"], judge.sample_rate)[0])
                for p, est in zip(pairs, estimates) if est is not None]
        rated = iter(judge.rate([wave for _, wave in said]))
        rows = [next(rated) if est is not None else dict.fromkeys(MOS, 1.0) for est in estimates]  # missing: the floor
        for m in MOS:
            metrics[f"dnsmos_{m}"] = float(np.mean([row[m] for row in rows]))
        meta["quality_judge"] = judge.identity()
        return {}


@hookimpl
def register_tasks(register):
    register(Se())
