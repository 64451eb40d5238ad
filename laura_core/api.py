"""The Python API: a trained LauraGPT loaded once, then called per task on plain inputs.

    from laura_core import api
    model = api.load("exp/mini/lm")                     # its newest checkpoint, and the vocoder it was validated with
    print(model.transcribe("speech.wav").text)          # or a waveform: model.transcribe(wave, sample_rate=8000)
    model.synthesize("good morning", prompt=("voice.wav", "its transcript")).save("morning.wav")

Inputs are audio (a file path, a file's bytes, or a waveform as a numpy array or torch tensor,
``[samples]`` or ``[channels, samples]``, at any ``sample_rate``) or text, one item or a list. A list is
batched by duration as ``laura infer`` batches a manifest, and each item samples from a generator
seeded by the run's seed and its id, so the outputs equal ``laura infer``'s on the same items, ids and
options. An item's id is its content's hash unless given: the same input gives the same output, in
whatever list it comes (a repeat within one list is numbered, ``<hash>-2``, and samples anew).

``run(task, inputs, **decode_options)`` serves every task the model was trained for, plugin tasks
included; the named helpers read naturally for the built-in eight. Results are typed: ``Text``,
``Label``, ``Understanding`` (intent and slots) or ``Audio`` (a waveform with its rate and codes); every
result also carries the hypothesis record that ``laura infer`` writes for it.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import torch

from laura_core.config import load_config
from laura_core.data.prompts import VoicePrompt
from laura_core.errors import ConfigError, DataError
from laura_core.inference.infer import (InferConfig, InferenceModel, Voiced, autocast, checkpoint_of, decode,
                                        duration_batches, load_inference_model, merged_options, voice_prompt)
from laura_core.manifest import audio_cut, text_cut
from laura_core.model.generation import DecodeOptions
from laura_core.names import id_problem
from laura_core.runtime import prepare_torch
from laura_core.task import FieldType, Modality, Task

if TYPE_CHECKING:
    from laura_core.registry import Registry

AudioInput = Union[str, Path, bytes, np.ndarray, torch.Tensor]


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One output. ``record`` is the hypothesis record ``laura infer`` writes for it (hyp.jsonl; an
    audio output's file path left out), with None where the model said nothing."""

    id: str
    task: str
    record: dict


@dataclass(frozen=True)
class Text(Result):
    text: str  # "" where the model said nothing


@dataclass(frozen=True)
class Label(Result):
    label: str  # a class label (ser); "" where the model said nothing


@dataclass(frozen=True)
class Understanding(Result):
    intent: str
    slots: list[dict]  # each {"type", "filler"}


@dataclass(frozen=True)
class Audio(Result):
    samples: np.ndarray  # mono float32; empty where the model said nothing
    sample_rate: int
    codes: list[int]  # the first-group codec codes the model said

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def wav_bytes(self) -> bytes:
        """A 32-bit float WAV file, as ``laura infer`` writes it."""
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, self.samples, self.sample_rate, format="WAV", subtype="FLOAT")
        return buffer.getvalue()

    def save(self, path: str | Path) -> Path:
        from laura_core.audio import write_wav

        return write_wav(path, self.samples, self.sample_rate)


@dataclass(frozen=True)
class Prompt:
    """A voice prompt (zero-shot tts): a recording in the voice to speak in, and its transcript.
    ``sample_rate`` goes with a waveform. ``synthesize(prompt=...)`` also takes a path or a
    ``(recording, transcript)`` pair."""

    audio: AudioInput
    text: str | None = None
    sample_rate: int | None = None


# -- the model ------------------------------------------------------------------------------------


def load(model: str | Path, vocoder: str | Path | None = None, *, device: str = "cpu", precision: str = "fp32",
         registry: "Registry | None" = None, **config: Any) -> "Model":
    """A trained model, ready to call.

    ``model`` is a checkpoint (``EXP/checkpoints/step_N``), a ``laura average`` or ``laura release``
    output, or an experiment folder (its newest checkpoint that verifies). ``vocoder`` voices audio
    outputs (tts, se); by default the one the model was validated with in training (``valid_vocoder``).
    ``precision`` is fp32 or bf16 (autocast: about twice as fast on a CPU with AMX; outputs may differ);
    ``decode_weights="bf16"`` or ``"int8"`` has decode steps read rounded weight copies (half or a quarter
    of the bytes of a memory-bound step).
    ``config`` holds ``laura infer``'s options (``InferConfig``), e.g. ``max_duration=30``,
    ``text={"max_new_tokens": 100}``, ``tasks={"mt": {"no_repeat_ngram_size": 3}}``, ``prompt_seconds=3``.
    """
    cfg = load_config(InferConfig, values={**config, "device": device, "precision": precision})
    return open_model(model, vocoder, cfg, registry)


def open_model(model: str | Path, vocoder: str | Path | None, cfg: InferConfig,
               registry: "Registry | None" = None) -> "Model":
    """``load`` with its options as an ``InferConfig`` (``laura serve`` reads them from its command line)."""
    from laura_core.registry import get_registry

    directory = checkpoint_of(model)
    if vocoder is None:
        vocoder = trained_vocoder(directory)
    return Model(load_inference_model(directory, registry or get_registry(), vocoder or ""), cfg)


def trained_vocoder(checkpoint: Path) -> str:
    """The vocoder a model was validated with in training (``valid_vocoder``), where it still exists."""
    from laura_core.training.checkpoint import TRAIN_CONFIG
    from laura_core.training.config import TrainConfig

    if not (checkpoint / TRAIN_CONFIG).is_file():
        return ""  # not a checkpoint: load_inference_model says so
    path = load_config(TrainConfig, checkpoint / TRAIN_CONFIG).valid_vocoder
    if path and not Path(path).is_dir():
        warnings.warn(f"{checkpoint}: its valid_vocoder {path} is not here (a relative path is read from the "
                      f"current folder): audio outputs need load(..., vocoder=DIR)", stacklevel=4)
        return ""
    return path


class Model:
    """A loaded LauraGPT. Not thread-safe: one call at a time (``laura serve`` queues them)."""

    def __init__(self, bundle: InferenceModel, config: InferConfig):
        prepare_torch()
        self.bundle, self.config = bundle, config
        bundle.prepare(config)

    @property
    def tasks(self) -> dict[str, Task]:
        """The tasks the model was trained for."""
        return self.bundle.tasks

    @property
    def sample_rate(self) -> int:
        """The rate of audio outputs (the codec's); 0 for a model without audio outputs."""
        return self.bundle.codec.sample_rate if self.bundle.codec is not None else 0

    @property
    def can_speak(self) -> bool:
        """Whether audio-output tasks can run: a vocoder was loaded."""
        return self.bundle.vocoder is not None

    def run(self, task: str, inputs: Any, *, ids: Sequence[str] | None = None, sample_rate: int | None = None,
            prompt: Any = None, seed: int | None = None, **decode_options: Any) -> Result | list[Result]:
        """Run ``task`` on one input (-> one result) or a list of them (-> a list, in order).

        ``sample_rate`` goes with waveform inputs; ``prompt`` (promptable tasks) is one voice prompt for
        every item or a list of one per item (``Prompt``, a recording's path, or ``(recording, text)``);
        ``decode_options`` override the task's decoding (``DecodeOptions``: ``max_new_tokens=100``,
        ``strategy="beam"``, ``ctc_weight=0.3``, ...); ``seed`` the configured sampling seed.
        """
        if task not in self.tasks:
            raise ConfigError(f"task {task!r}: the model was trained for {', '.join(self.tasks)}")
        spec = self.tasks[task]
        if spec.output is Modality.CODEC and not self.can_speak:
            raise ConfigError(f"task {task} outputs audio: load the model with the vocoder that voices its codec "
                              f"tokens (api.load(..., vocoder=DIR))")
        single = _is_single(inputs, spec)
        items = [inputs] if single else list(inputs)
        if ids is None:
            ids = _numbered([content_id(item, sample_rate) for item in items])
        elif isinstance(ids, str):
            ids = [ids]
        if len(ids) != len(items) or len(set(ids)) != len(ids):
            raise ConfigError(f"ids: {len(ids)} given for {len(items)} inputs, or not unique")
        cuts = [self._cut(spec, rid, item, sample_rate) for rid, item in zip(ids, items)]
        prompts = self._prompts(spec, prompt, len(cuts))
        options = self._options(spec, decode_options)
        seed = self.config.seed if seed is None else seed
        voice = dict(zip(ids, prompts))
        outputs: dict[str, Any] = {}
        with autocast(self.config.device, self.config.precision):
            for batch in duration_batches(cuts, self.config.max_duration):  # as laura infer batches a manifest
                said = decode(self.bundle, spec, batch, options, seed, [voice[cut.id] for cut in batch])
                outputs.update(zip([cut.id for cut in batch], said))
        results = [self._result(spec, rid, outputs[rid]) for rid in ids]
        return results[0] if single else results

    # -- the built-in tasks, by name --------------------------------------------------------------

    def transcribe(self, audio, **kwargs) -> Text | list[Text]:
        """Speech -> its transcript (asr)."""
        return self.run("asr", audio, **kwargs)

    def translate(self, source, **kwargs) -> Text | list[Text]:
        """Speech (s2tt) or text (mt) -> its translation, into the language the model was trained for."""
        first = source[0] if isinstance(source, (list, tuple)) and source else source
        is_text = isinstance(first, str) and not Path(first).is_file()  # a string naming a file is a recording
        return self.run("mt" if is_text else "s2tt", source, **kwargs)

    def synthesize(self, text, prompt: Any = None, **kwargs) -> Audio | list[Audio]:
        """Text -> speech (tts), in the voice of ``prompt`` where given (zero-shot)."""
        return self.run("tts", text, prompt=prompt, **kwargs)

    def enhance(self, audio, **kwargs) -> Audio | list[Audio]:
        """Noisy speech -> clean speech (se)."""
        return self.run("se", audio, **kwargs)

    def caption(self, audio, **kwargs) -> Text | list[Text]:
        """Audio -> a sentence describing it (aac)."""
        return self.run("aac", audio, **kwargs)

    def emotion(self, audio, **kwargs) -> Label | list[Label]:
        """Speech -> its emotion label (ser)."""
        return self.run("ser", audio, **kwargs)

    def understand(self, audio, **kwargs) -> Understanding | list[Understanding]:
        """A spoken command -> its intent and slots (slu)."""
        return self.run("slu", audio, **kwargs)

    # -- inside -----------------------------------------------------------------------------------

    def _cut(self, task: Task, rid: str, item: Any, sample_rate: int | None):
        """The item as the cut ``laura infer`` would read from a manifest."""
        problem = id_problem(rid)
        if problem:
            raise DataError(f"record {rid!r}, field 'id': {problem}")
        if task.input is Modality.TEXT:
            if not isinstance(item, str):
                raise DataError(f"record {rid!r}, field {task.source_field!r}: task {task.name} reads text, "
                                f"got {type(item).__name__}")
            if task.source_field == "text":
                return text_cut(rid, item)
            return text_cut(rid, "", **{task.source_field: item})
        return audio_cut(recording(item, rid, sample_rate))

    def _prompts(self, task: Task, prompt: Any, n: int) -> list[VoicePrompt | None]:
        if prompt is None or (isinstance(prompt, list) and all(p is None for p in prompt)):
            return [None] * n
        if not task.prompt_field:
            raise ConfigError(f"task {task.name} takes no voice prompt")
        if not self.config.prompts:
            return [None] * n
        given = prompt if isinstance(prompt, list) else [prompt] * n
        if len(given) != n:
            raise ConfigError(f"prompt: {len(given)} prompts for {n} inputs (give one, or one per input)")
        coded: dict[int, VoicePrompt | None] = {}  # one prompt for every item is coded once
        for p in given:
            if id(p) not in coded:
                coded[id(p)] = None if p is None else self._voice(p)
        return [coded[id(p)] for p in given]

    def _voice(self, prompt: Any) -> VoicePrompt:
        if isinstance(prompt, (str, Path)):
            prompt = Prompt(prompt)
        elif isinstance(prompt, tuple):
            prompt = Prompt(*prompt)
        if not isinstance(prompt, Prompt):
            raise ConfigError(f"prompt: expected a Prompt, a recording's path or (recording, transcript), "
                              f"got {type(prompt).__name__}")
        from laura_core.data.batches import load_waveform

        rate = self.bundle.codec.sample_rate
        wave = load_waveform(audio_cut(recording(prompt.audio, "prompt", prompt.sample_rate)), rate).numpy()
        return voice_prompt(self.bundle, wave, prompt.text or None, self.config.prompt_seconds)

    def _options(self, task: Task, overrides: dict) -> DecodeOptions:
        return merged_options(self.config.options_for(task), overrides, "decode options")

    def _result(self, task: Task, rid: str, output: str | Voiced | None) -> Result:
        if task.output is Modality.CODEC:
            record = {"id": rid, task.hyp_fields[0].name: None}
            if output is None:
                return Audio(rid, task.name, record, np.zeros(0, np.float32), self.sample_rate, [])
            record = {"id": rid, "codes": output.codes}
            return Audio(rid, task.name, record, output.samples, self.sample_rate, output.codes)
        record = task.to_hypothesis(rid, output) if output is not None else {"id": rid, task.hyp_fields[0].name: None}
        fields = {name for name in record if name != "id"}
        if fields == {"intent", "slots"}:
            return Understanding(rid, task.name, record, record["intent"] or "", record["slots"] or [])
        if fields == {"text"}:
            text = record["text"] or ""
            label = len(task.ref_fields) == 1 and task.ref_fields[0].type is FieldType.LABEL
            return Label(rid, task.name, record, text) if label else Text(rid, task.name, record, text)
        return Result(rid, task.name, record)  # a plugin task's own fields: in the record


def recording(audio: AudioInput, rid: str, sample_rate: int | None = None):
    """A lhotse Recording of a path, a file's bytes, or a waveform at ``sample_rate``."""
    from lhotse import Recording

    try:
        if isinstance(audio, (str, Path)):
            if not Path(audio).is_file():
                raise DataError(f"record {rid!r}, field 'audio': {audio}: file not found")
            return Recording.from_file(audio, recording_id=rid)
        if isinstance(audio, (bytes, bytearray)):
            return Recording.from_bytes(bytes(audio), recording_id=rid)
        if isinstance(audio, (np.ndarray, torch.Tensor)):
            return Recording.from_bytes(wav_bytes(audio, sample_rate, rid), recording_id=rid)
    except DataError:
        raise
    except Exception as e:  # lhotse and its audio backends raise several types for what they cannot read
        raise DataError(f"record {rid!r}, field 'audio': cannot read audio ({e})") from None
    raise DataError(f"record {rid!r}, field 'audio': expected a path, a file's bytes or a waveform, "
                    f"got {type(audio).__name__}")


def wav_bytes(wave: np.ndarray | torch.Tensor, sample_rate: int | None, rid: str = "?") -> bytes:
    """A waveform ``[S]`` or ``[C, S]`` as a 32-bit float WAV file: read back, the same samples."""
    import soundfile as sf

    if not sample_rate or sample_rate <= 0:
        raise DataError(f"record {rid!r}, field 'audio': a waveform needs its sample_rate (sample_rate=16000)")
    array = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
    if array.ndim not in (1, 2) or array.shape[-1] == 0 or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"record {rid!r}, field 'audio': expected a waveform [samples] or [channels, samples], "
                        f"got shape {array.shape} of {array.dtype}")
    if not np.isfinite(array).all():
        raise DataError(f"record {rid!r}, field 'audio': the waveform holds NaN or infinite samples")
    buffer = io.BytesIO()
    sf.write(buffer, array.astype(np.float32).T, int(sample_rate), format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def _is_single(inputs: Any, task: Task) -> bool:
    if isinstance(inputs, (str, Path, bytes, bytearray)):
        return True
    if isinstance(inputs, (np.ndarray, torch.Tensor)):
        return True  # one waveform, [samples] or [channels, samples]
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise ConfigError("no inputs given (an empty list)")
        return False
    raise DataError(f"task {task.name}: cannot read an input of type {type(inputs).__name__}")


def _numbered(ids: list[str]) -> list[str]:
    """Ids made unique: an input repeated in one list gets ``-2``, ``-3``, ... (a sample of its own)."""
    seen: dict[str, int] = {}
    out = []
    for rid in ids:
        seen[rid] = seen.get(rid, 0) + 1
        out.append(rid if seen[rid] == 1 else f"{rid}-{seen[rid]}")
    return out


def content_id(item: Any, sample_rate: int | None) -> str:
    """An id from what the item holds (a path's file bytes, a waveform's samples and rate, a text)."""
    digest = hashlib.sha256()
    if isinstance(item, (str, Path)) and Path(item).is_file():
        digest.update(Path(item).read_bytes())
    elif isinstance(item, (np.ndarray, torch.Tensor)):
        array = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes() + str(sample_rate).encode())
    elif isinstance(item, (bytes, bytearray)):
        digest.update(bytes(item))
    else:
        digest.update(str(item).encode())
    return digest.hexdigest()[:16]
