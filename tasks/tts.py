"""TTS: text -> speech (as codec tokens, decoded to audio).

Intelligibility: WER/CER of an ASR judge's transcript of the generated audio against the input
text. The judge is any component of kind ``judge`` (``laura plugins`` lists them; by default
``whisper``, Whisper base); its identity is recorded with the score. Where the judge cannot run (its
model is not installed), WER and CER are reported unavailable with the reason, never as a number. Quality: mel-cepstral distortion against the reference recording, over a
DTW alignment. A missing output is transcribed as empty (all words deleted) and left out of MCD.
"""
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from laura_core import hookimpl
from laura_core.audio import read_audio
from laura_core.errors import ConfigError
from laura_core.metrics.audio import MCDOptions, mcd_dtw
from laura_core.metrics.text import ErrorRateOptions, error_rates
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


@dataclass
class TtsOptions:
    judge: str = "whisper"  # Whisper base through faster-whisper; "pocketsphinx" needs no model wheel
    judge_options: dict[str, Any] = field(default_factory=dict)
    error_rate: ErrorRateOptions = field(default_factory=ErrorRateOptions)
    mcd: MCDOptions = field(default_factory=MCDOptions)
    sample_rate: int = 16000  # MCD is computed at this rate


class Tts(Task):
    name = "tts"
    description = "text-to-speech: text -> speech"
    input = Modality.TEXT
    output = Modality.CODEC
    source_field = "text"
    target_field = "audio"
    ref_fields = (
        Field("text", FieldType.TEXT, "the text to synthesise"),
        Field("audio", FieldType.AUDIO, "reference recording of that text"),
    )
    metrics = (
        Metric("wer", "WER of the judge's transcript of the generated audio", False, "fraction"),
        Metric("cer", "CER of the judge's transcript of the generated audio", False, "fraction"),
        Metric("mcd", "mel-cepstral distortion to the reference, DTW-aligned, mean", False, "dB"),
    )
    Options = TtsOptions

    def to_reference(self, record):
        return {"id": record["id"], "text": record["text"], "audio": record["audio"]}

    def score(self, pairs, options, registry):
        present = [p for p in pairs if p.hyp.get("audio")]
        generated = [read_audio(p.hyp["audio"], options.sample_rate)[0] for p in present]
        metrics, meta, unavailable = {"wer": None, "cer": None}, {}, {}
        try:
            judge = registry.create("judge", options.judge, **options.judge_options)
        except ConfigError as e:
            unavailable = {"wer": f"judge {options.judge}: {e}", "cer": f"judge {options.judge}: {e}"}
        else:
            heard_by_judge = generated if judge.sample_rate == options.sample_rate else [
                read_audio(p.hyp["audio"], judge.sample_rate)[0] for p in present]
            heard = dict(zip((p.id for p in present), judge.transcribe(heard_by_judge)))
            transcripts = [heard.get(p.id, "") for p in pairs]
            metrics, meta = error_rates([p.ref["text"] for p in pairs], transcripts, options.error_rate)
            meta["judge"] = judge.identity()
        mcds = [mcd_dtw(read_audio(p.ref["audio"], options.sample_rate)[0], wave, options.sample_rate, options.mcd)
                for p, wave in zip(present, generated)]
        metrics["mcd"] = float(np.mean(mcds)) if mcds else None
        meta.update(mcd_items=len(mcds), mcd_settings=asdict(options.mcd))
        if not mcds:
            unavailable["mcd"] = "no generated audio to compare"
        return TaskScore(metrics, unavailable=unavailable, meta=meta)


@hookimpl
def register_tasks(register):
    register(Tts())
