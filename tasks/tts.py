"""TTS: text -> speech (as codec tokens, decoded to audio).

Intelligibility: WER/CER of an ASR judge's transcript of the generated audio against the input
text. The judge is any component of kind ``judge`` (``laura plugins`` lists them; by default
``whisper``, Whisper base); its identity is recorded with the score. Where the judge cannot run (its
model is not installed), WER and CER are reported unavailable with the reason, never as a number. Quality: mel-cepstral distortion against the reference recording, over a
DTW alignment. A missing output is transcribed as empty (all words deleted) and left out of MCD.
Voice: SIM, the cosine similarity of a speaker judge's embeddings (``speaker_judge``, by default
Resemblyzer) of the output and the reference recording, and ``sim_prompt`` of the output and the
voice prompt it was asked to speak in (zero-shot tts; records with a ``prompt``). A missing output
has similarity 0.
"""
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from laura_core import hookimpl
from laura_core.audio import read_audio
from laura_core.errors import ConfigError, RegistryError
from laura_core.scoring.judge import cosine
from laura_core.scoring.metrics.audio import MCDOptions, mcd_dtw
from laura_core.scoring.metrics.text import ErrorRateOptions, error_rates
from laura_core.task import Field, FieldType, Metric, Modality, Task, TaskScore


@dataclass
class TtsOptions:
    judge: str = "whisper"  # Whisper base through faster-whisper; "pocketsphinx" needs no model wheel
    judge_options: dict[str, Any] = field(default_factory=dict)
    speaker_judge: str = "resemblyzer"  # speaker embeddings for SIM
    speaker_judge_options: dict[str, Any] = field(default_factory=dict)
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
    prompt_field = "prompt"  # zero-shot: a recording in the voice to speak in, and prompt_text its transcript
    ref_fields = (
        Field("text", FieldType.TEXT, "the text to synthesise"),
        Field("audio", FieldType.AUDIO, "reference recording of that text"),
        Field("prompt", FieldType.AUDIO, "the voice prompt the output was asked to speak in", optional=True),
    )
    metrics = (
        Metric("wer", "WER of the judge's transcript of the generated audio", False, "fraction"),
        Metric("cer", "CER of the judge's transcript of the generated audio", False, "fraction"),
        Metric("mcd", "mel-cepstral distortion to the reference, DTW-aligned, mean", False, "dB"),
        Metric("sim", "speaker similarity (cosine) of the output to the reference recording, mean", True, "cosine"),
        Metric("sim_prompt", "speaker similarity (cosine) of the output to its voice prompt, mean", True, "cosine"),
    )
    Options = TtsOptions

    def to_reference(self, record):
        ref = {"id": record["id"], "text": record["text"], "audio": record["audio"]}
        if record.get(self.prompt_field):
            ref[self.prompt_field] = record[self.prompt_field]
        return ref

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
        self._similarities(pairs, dict(zip((p.id for p in present), generated)), options, registry, metrics,
                           meta, unavailable)
        return TaskScore(metrics, unavailable=unavailable, meta=meta)

    def _similarities(self, pairs, generated, options, registry, metrics, meta, unavailable) -> None:
        """``sim`` to the reference recordings and ``sim_prompt`` to the prompts (where given)."""
        metrics.update(sim=None, sim_prompt=None)
        try:
            judge = registry.create("speaker_judge", options.speaker_judge, **options.speaker_judge_options)
        except (ConfigError, RegistryError) as e:
            unavailable.update(sim=f"speaker judge {options.speaker_judge}: {e}",
                               sim_prompt=f"speaker judge {options.speaker_judge}: {e}")
            return
        rate = judge.sample_rate
        said = [p for p in pairs if p.id in generated]
        outputs = judge.embed([generated[p.id] if rate == options.sample_rate else read_audio(p.hyp["audio"], rate)[0]
                               for p in said])
        by_id = dict(zip((p.id for p in said), outputs))
        meta["speaker_judge"] = judge.identity()
        for metric, field_name in (("sim", "audio"), ("sim_prompt", self.prompt_field)):
            asked = [p for p in pairs if p.ref.get(field_name)]
            if not asked:
                unavailable[metric] = f"no reference has a {field_name!r} recording"
                continue
            wanted = judge.embed([read_audio(p.ref[field_name], rate)[0] for p in asked])
            # A missing output has no voice: similarity 0.
            metrics[metric] = float(np.mean([cosine(by_id[p.id], w) if p.id in by_id else 0.0
                                             for p, w in zip(asked, wanted)]))
            meta[f"{metric}_items"] = len(asked)


@hookimpl
def register_tasks(register):
    register(Tts())
