"""ASR: speech -> transcript. Scored by corpus WER and CER after the documented text normaliser."""
from laura_core import hookimpl
from laura_core.scoring.metrics.text import ErrorRateOptions, error_rates
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


class Asr(Task):
    name = "asr"
    description = "speech recognition: speech -> transcript"
    input = Modality.AUDIO
    output = Modality.TEXT
    source_field = "audio"
    target_field = "text"
    transcribes = True
    ref_fields = (Field("text", FieldType.TEXT, "reference transcript"),)
    metrics = (
        Metric("wer", "corpus word error rate", False, "fraction"),
        Metric("cer", "corpus character error rate (spaces count; cer_ignore_spaces=true drops them)", False, "fraction"),
    )
    Options = ErrorRateOptions

    def score(self, pairs, options, registry):
        metrics, meta = error_rates([p.ref["text"] for p in pairs], [p.hyp["text"] for p in pairs], options)
        return TaskScore(metrics, meta=meta)


@hookimpl
def register_tasks(register):
    register(Asr())
