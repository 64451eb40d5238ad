"""The task-prompt protocol: what a task is, how its records become model examples,
how model outputs become hypotheses, and how hypotheses are scored.

A task plugin subclasses ``Task``, fills in the class attributes and implements ``score``.
Everything else (prompt token, example formatting, hypothesis records) has a default that
follows LauraGPT's sequence ``[input] [task token] [output] [eos]``.
"""
from __future__ import annotations

import abc
import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Sequence, runtime_checkable

from laura_core.errors import DataError, RegistryError

if TYPE_CHECKING:
    from laura_core.registry import Registry


class Modality(str, Enum):
    TEXT = "text"  # text tokens, in or out
    AUDIO = "audio"  # input audio, read as continuous features by the audio encoder
    CODEC = "codec"  # output audio, as first-group codec tokens


INPUT_MODALITIES = (Modality.TEXT, Modality.AUDIO)
OUTPUT_MODALITIES = (Modality.TEXT, Modality.CODEC)


class FieldType(str, Enum):
    TEXT = "text"  # a string
    TEXTS = "texts"  # a string or a non-empty list of strings (several references)
    LABEL = "label"  # a class label (non-empty string)
    AUDIO = "audio"  # a path to an audio file, relative to the JSONL file that holds it
    SLOTS = "slots"  # a list of {"type": str, "filler": str}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    doc: str = ""
    optional: bool = False  # a record may leave it out (checked where present)


@dataclass(frozen=True)
class Metric:
    name: str  # key in the score JSON
    doc: str
    higher_is_better: bool
    scale: str  # "fraction" (0-1), "0-100", "dB", "MOS-LQO", ...


@dataclass(frozen=True)
class AudioRef:
    """Audio by reference: a file (later: plus offset and duration within it)."""

    path: str


@dataclass(frozen=True)
class Example:
    """One model example: ``source`` is read as the task's input modality, ``target`` is what the
    model must produce (text, or audio the codec turns into target tokens)."""

    id: str
    task: str
    source: str | AudioRef
    target: str | AudioRef


@dataclass(frozen=True)
class Pair:
    """A reference record and its hypothesis, matched by id. ``missing`` marks a hypothesis the
    system did not produce: it was replaced by ``Task.missing_hypothesis`` and counts as an error."""

    id: str
    ref: dict
    hyp: dict
    missing: bool = False


@dataclass
class TaskScore:
    metrics: dict[str, float | None]
    unavailable: dict[str, str] = field(default_factory=dict)  # metric -> why it could not be computed
    meta: dict[str, Any] = field(default_factory=dict)  # normaliser, signatures, models: what makes it reproducible


@dataclass
class NoOptions:
    """Scoring options of a task that has none."""


@runtime_checkable
class TaskMetric(Protocol):
    """A component (kind ``metric``) that adds metrics to an existing task, from another package:
    `laura score` runs it beside the task's own scorer on the same pairs (e.g. a BERTScore for asr, or
    WER under another normaliser). ``metrics`` must not reuse the task's own names; ``score`` returns a
    ``TaskScore`` of exactly them, with library versions in ``meta``."""

    task: str  # the registered task it scores
    metrics: tuple[Metric, ...]

    def score(self, pairs: list[Pair]) -> TaskScore: ...


_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Task(abc.ABC):
    """A task of the one model. Subclasses set the class attributes and implement ``score``."""

    name: ClassVar[str]
    description: ClassVar[str]
    input: ClassVar[Modality]
    output: ClassVar[Modality]
    source_field: ClassVar[str]  # record field fed to the model
    target_field: ClassVar[str]  # record field the model learns to produce
    ref_fields: ClassVar[tuple[Field, ...]]  # what a reference record must hold to be scored
    metrics: ClassVar[tuple[Metric, ...]]
    Options: ClassVar[type] = NoOptions  # dataclass of scoring options (configurable by key=value)
    primary_metric: ClassVar[str] = ""  # the metric a task is judged by (curves, summaries); "" = the first
    transcribes: ClassVar[bool] = False  # the output is what the audio input says (CTC may join its decoding)
    # A text-to-codec task that may be prompted (zero-shot tts): the record field of an optional prompt
    # recording in the target's voice, and ``<prompt_field>_text`` its transcript. "" = never prompted.
    prompt_field: ClassVar[str] = ""

    @property
    def primary(self) -> Metric:
        """The metric the task is judged by: ``primary_metric``, or the first of ``metrics``."""
        return next((m for m in self.metrics if m.name == self.primary_metric), self.metrics[0])

    # -- identity -----------------------------------------------------------------------------

    @property
    def prompt_token(self) -> str:
        return f"<|{self.name}|>"

    @property
    def record_fields(self) -> tuple[Field, ...]:
        """What a data record must hold for this task (manifests are validated against it)."""
        return (
            Field(self.source_field, FieldType.AUDIO if self.input is Modality.AUDIO else FieldType.TEXT, "model input"),
            Field(self.target_field, FieldType.AUDIO if self.output is Modality.CODEC else FieldType.TEXT, "model target"),
        )

    @property
    def hyp_fields(self) -> tuple[Field, ...]:
        """What a hypothesis record must hold: text outputs in ``text``, audio outputs in ``audio``."""
        if self.output is Modality.CODEC:
            return (Field("audio", FieldType.AUDIO, "generated audio file"),)
        return (Field("text", FieldType.TEXT, "generated text"),)

    def validate(self) -> None:
        """Raise ``RegistryError`` if this task does not follow the protocol."""
        cls = type(self).__name__
        for attr in ("name", "description", "input", "output", "source_field", "target_field", "ref_fields", "metrics"):
            if not hasattr(self, attr):
                raise RegistryError(f"task class {cls} does not set {attr!r}")
        if not _TASK_NAME.match(self.name):
            raise RegistryError(f"task class {cls}: name {self.name!r} must match {_TASK_NAME.pattern}")
        if self.input not in INPUT_MODALITIES:
            raise RegistryError(f"task {self.name}: input modality must be one of {[m.value for m in INPUT_MODALITIES]}")
        if self.output not in OUTPUT_MODALITIES:
            raise RegistryError(f"task {self.name}: output modality must be one of {[m.value for m in OUTPUT_MODALITIES]}")
        if not dataclasses.is_dataclass(self.Options):
            raise RegistryError(f"task {self.name}: Options must be a dataclass")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names) or not names:
            raise RegistryError(f"task {self.name}: metric names must be unique and non-empty, got {names}")
        if self.primary_metric and self.primary_metric not in names:
            raise RegistryError(f"task {self.name}: primary_metric {self.primary_metric!r} is not one of {names}")
        if self.prompt_field and (self.input is not Modality.TEXT or self.output is not Modality.CODEC):
            raise RegistryError(f"task {self.name}: prompt_field is for text -> codec tasks (a voice prompt)")
        if type(self).to_reference is Task.to_reference:
            # The default reference is a hypothesis-shaped record ({id, text} or {id, audio}): ref_fields
            # naming anything else could never be scored against inference output.
            written = {f.name for f in self.hyp_fields}
            declared = {f.name for f in self.ref_fields}
            if not declared <= written:
                raise RegistryError(
                    f"task {self.name}: ref_fields {sorted(declared)} are not what the default to_reference writes "
                    f"({sorted(written)}): declare ref_fields={tuple(sorted(written))} or override to_reference "
                    f"to write {sorted(declared - written)}")

    # -- formatting ---------------------------------------------------------------------------

    def to_source(self, record: dict) -> str | AudioRef:
        """What the model reads of a record: all that inference needs (a record may hold no target)."""
        source = require(record, self.source_field, FieldType.AUDIO if self.input is Modality.AUDIO else FieldType.TEXT)
        return AudioRef(source) if self.input is Modality.AUDIO else source

    def to_example(self, record: dict) -> Example:
        """Turn a data record into a model example."""
        return Example(id=record_id(record), task=self.name, source=self.to_source(record),
                       target=self.format_target(record))

    def format_target(self, record: dict) -> str | AudioRef:
        """The target of a record: its text, or the audio whose codec tokens the model must produce."""
        if self.output is Modality.CODEC:
            return AudioRef(require(record, self.target_field, FieldType.AUDIO))
        return require(record, self.target_field, FieldType.TEXT)

    def to_examples(self, record: dict) -> list[Example]:
        """Training examples of a record: one, or one per reference where a record holds several."""
        return [self.to_example(record)]

    def to_reference(self, record: dict) -> dict:
        """The reference record ``laura score`` compares hypotheses against."""
        return self.to_hypothesis(record_id(record), self.format_target(record))

    def to_hypothesis(self, id: str, output: str | AudioRef) -> dict:
        """Turn the model's decoded output into a hypothesis record for ``laura score``."""
        if self.output is Modality.CODEC:
            return {"id": id, "audio": output.path if isinstance(output, AudioRef) else str(output)}
        return {"id": id, "text": output}

    def missing_hypothesis(self, ref: dict) -> dict:
        """Stands in for an id the system did not produce: an empty output."""
        if self.output is Modality.CODEC:
            return {"id": ref["id"], "audio": None}
        return {"id": ref["id"], "text": ""}

    # -- scoring ------------------------------------------------------------------------------

    @abc.abstractmethod
    def score(self, pairs: Sequence[Pair], options: Any, registry: "Registry") -> TaskScore:
        """Score matched pairs; ``options`` is an instance of ``self.Options``."""


def record_id(record: dict) -> str:
    rid = record.get("id")
    if not isinstance(rid, str) or not rid:
        raise DataError(f"record has no string 'id' field: {str(record)[:120]}")
    return rid


def require(record: dict, name: str, type: FieldType) -> Any:
    """Return ``record[name]`` after checking it against ``type``; errors name the record and field."""
    rid = record.get("id", "?")
    if name not in record or record[name] is None:
        from laura_core.manifest import field_place

        raise DataError(f"record {rid!r}: missing field {name!r} (in a manifest it is read from {field_place(name)})")
    return check_field(record[name], Field(name, type), rid)


def check_field(value: Any, spec: Field, rid: str) -> Any:
    where = f"record {rid!r}, field {spec.name!r}"
    if spec.type in (FieldType.TEXT, FieldType.AUDIO, FieldType.LABEL):
        if not isinstance(value, str):
            raise DataError(f"{where}: expected a string, got {type(value).__name__}")
        if spec.type is not FieldType.TEXT and not value.strip():
            raise DataError(f"{where}: is empty")
    elif spec.type is FieldType.TEXTS:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(t, str) and t.strip() for t in items):
            raise DataError(f"{where}: expected a non-empty string or a non-empty list of non-empty strings")
    elif spec.type is FieldType.SLOTS:
        ok = isinstance(value, list) and all(
            isinstance(s, dict) and isinstance(s.get("type"), str) and isinstance(s.get("filler"), str) for s in value
        )
        if not ok:
            raise DataError(f"{where}: expected a list of {{\"type\": str, \"filler\": str}}")
    return value
