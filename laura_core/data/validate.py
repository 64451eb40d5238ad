"""Manifest validation: every record of a task's CutSet checked against the task's ``record_fields``.

A problem is (record id, field, reason). ``laura validate`` reports them all; the data pipeline
applies a policy (``on_error``): ``stop`` refuses a manifest with any bad record, ``skip`` drops the
bad records and logs how many and which. Records sharing an id are all bad: which one is meant is
ambiguous.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from laura_core.errors import DataError
from laura_core.manifest import CODES, cut_to_record, field_place, field_recording, read_cuts
from laura_core.names import id_problem
from laura_core.task import Field, FieldType, Modality, Task, check_field

if TYPE_CHECKING:
    from lhotse import CutSet

log = logging.getLogger(__name__)

HEADER_FRAMES = 1024  # frames decoded per file unless decode_all: enough to catch a broken stream


class OnError(str, Enum):
    stop = "stop"  # refuse the manifest, naming the bad records
    skip = "skip"  # drop the bad records and report them


@dataclass
class ValidationOptions:
    # Accepted file rates; empty = any: audio is resampled when read, but a setup may insist on one rate.
    sample_rates: list[int] = field(default_factory=list)
    min_duration: float = 0.1  # seconds, for every audio field
    max_duration: float = 30.0
    tolerance: float = 0.01  # seconds an audio file may differ from its cut's duration
    # Characters of a text field: a 40,000-character "sentence" is a data error, not an input to decode
    # (long-form text is split upstream); the default is well above any sentence of the supported corpora.
    max_text_chars: int = 4000
    decode_all: bool = False  # decode whole files, not only the header and the first frames
    require_codes: bool = False  # codec-output tasks: each record must hold its codec codes (training needs them)
    inputs_only: bool = False  # check the model's input field alone (inference on records without references)
    on_error: OnError = OnError.stop


@dataclass(frozen=True)
class Problem:
    id: str
    field: str
    reason: str


@dataclass
class ValidationReport:
    manifest: str
    task: str
    checked: int = 0  # records
    bad: int = 0  # records with at least one problem
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.bad == 0

    @property
    def bad_ids(self) -> set[str]:
        return {p.id for p in self.problems}

    def headline(self) -> str:
        return f"{self.manifest} ({self.task}): {self.checked} records checked, {self.bad} bad"

    def format(self, limit: int = 20) -> str:
        """The headline and the first ``limit`` problems, one a line."""
        lines = [self.headline()]
        shown = self.problems[:limit]
        if shown:
            ids = [p.id if id_problem(p.id) is None else repr(p.id) for p in shown]  # control characters shown escaped
            width = max(map(len, ids)), max(len(p.field) for p in shown)
            lines += [f"  {rid:<{width[0]}}  {p.field:<{width[1]}}  {p.reason}" for rid, p in zip(ids, shown)]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more problems (--json OUT lists all)")
        return "\n".join(lines)

    def summary(self, examples: int = 3) -> str:
        """One line naming the first few problems: what an error or a log message says."""
        shown = "; ".join(f"{p.id!r} {p.field}: {p.reason}" for p in self.problems[:examples])
        more = f"; and {len(self.problems) - examples} more problems" if len(self.problems) > examples else ""
        return f"{self.manifest} ({self.task}): {self.bad} of {self.checked} records are bad: {shown}{more}"

    def to_json(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "task": self.task, "checked": self.checked, "bad": self.bad,
                "problems": [asdict(p) for p in self.problems]}


def validate_manifest(path: str | Path, task: Task, options: ValidationOptions | None = None) -> ValidationReport:
    """Check every record of the lhotse CutSet at ``path`` for ``task``."""
    return check_cuts(read_cuts(path), task, options or ValidationOptions(), str(path))


def filter_valid(cuts: "CutSet", task: Task, options: ValidationOptions,
                 manifest: str = "cuts") -> tuple["CutSet", ValidationReport]:
    """``(cuts without the bad records, report)`` under ``options.on_error``: ``stop`` raises
    ``DataError`` with the report's summary; ``skip`` logs it and filters lazily."""
    report = check_cuts(cuts, task, options, manifest)
    if report.ok:
        return cuts, report
    if options.on_error is OnError.stop:
        raise DataError(f"{report.summary()} (on_error=skip drops them; `laura validate` lists all)")
    log.warning("skipping bad records: %s", report.summary())
    return cuts.filter(partial(_keep, frozenset(report.bad_ids))), report


def check_cuts(cuts: Iterable, task: Task, options: ValidationOptions, manifest: str = "cuts") -> ValidationReport:
    report = ValidationReport(manifest, task.name)
    records: Counter[str] = Counter()  # per id
    flagged: Counter[str] = Counter()  # per id, records with a problem
    for cut in _read(cuts, manifest):
        report.checked += 1
        records[cut.id] += 1
        found = check_cut(cut, task, options)
        report.problems += found
        flagged[cut.id] += bool(found)
    duplicates = {rid: n for rid, n in records.items() if n > 1}
    report.problems += [Problem(rid, "id", f"duplicate id: {n} records share it") for rid, n in duplicates.items()]
    report.bad = sum(n if n > 1 else flagged[rid] for rid, n in records.items())
    return report


def check_cut(cut, task: Task, options: ValidationOptions) -> list[Problem]:
    """The problems of one cut (duplicate ids aside)."""
    reason = id_problem(cut.id)
    if reason:
        return [Problem(cut.id, "id", reason)]
    duration = cut.duration
    if not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration <= 0:
        return [Problem(cut.id, "duration", f"{duration!r}: must be a finite number of seconds above 0")]
    try:
        record = cut_to_record(cut)
    except ValueError as e:
        return [Problem(cut.id, "audio", str(e))]
    problems = []
    fields = [f for f in task.record_fields if f.name == task.source_field] if options.inputs_only else task.record_fields
    for spec in fields:
        value = record.get(spec.name)
        reason = _field_problem(value, spec, cut.id)
        if reason is None and isinstance(value, str) and spec.type is not FieldType.AUDIO \
                and len(value) > options.max_text_chars:
            reason = (f"{len(value)} characters, more than validation.max_text_chars={options.max_text_chars} "
                      f"(split long text into sentences)")
        if reason is None and spec.type is FieldType.AUDIO:
            reason = _audio_problem(value, field_recording(cut, spec.name), cut.duration, options)
        if reason:
            problems.append(Problem(cut.id, spec.name, reason))
    if options.require_codes and task.output is Modality.CODEC:
        reason = codes_problem((cut.custom or {}).get(CODES))
        if reason:
            problems.append(Problem(cut.id, CODES, reason))
    return problems


def codes_problem(codes: Any) -> str | None:
    if codes is None:
        return "missing: extract codec codes first (`laura codec encode`)"
    if not isinstance(codes, list) or not codes or not all(isinstance(c, int) and c >= 0 for c in codes):
        return "expected a non-empty list of non-negative ints (first-group codec codes)"
    return None


def _field_problem(value: Any, spec: Field, rid: str) -> str | None:
    if value is None:
        return f"missing (read from {field_place(spec.name)})"
    try:
        check_field(value, spec, rid)
    except DataError as e:
        return str(e).removeprefix(f"record {rid!r}, field {spec.name!r}: ")
    # check_field lets empty text through: an empty hypothesis is valid, an empty record is not.
    if isinstance(value, str) and not value.strip():
        return "is empty"
    return None


def _audio_problem(path: str, recording, cut_duration: float, options: ValidationOptions) -> str | None:
    import soundfile as sf

    if not Path(path).is_file():
        return f"file not found: {path}"
    try:
        info = sf.info(path)
        sf.read(path, frames=-1 if options.decode_all else HEADER_FRAMES, dtype="float32")
    except Exception as e:  # soundfile raises several types for unreadable files
        return f"cannot decode {path}: {getattr(e, 'error_string', e)}"
    rate, duration = info.samplerate, info.frames / info.samplerate
    if options.sample_rates and rate not in options.sample_rates:
        return f"sample rate {rate} Hz, expected {' or '.join(map(str, options.sample_rates))}"
    if recording is not None and recording.sampling_rate != rate:
        return f"manifest says {recording.sampling_rate} Hz, file has {rate} Hz"
    if abs(duration - cut_duration) > options.tolerance:
        return f"file lasts {duration:.3f} s, cut says {cut_duration:.3f} s"
    if not options.min_duration <= duration <= options.max_duration:
        return f"duration {duration:.2f} s outside [{options.min_duration}, {options.max_duration}] s"
    return None


def _read(cuts: Iterable, manifest: str) -> Iterator:
    n = 0
    try:
        for n, cut in enumerate(cuts, 1):
            yield cut
    except (ValueError, KeyError, TypeError, OSError) as e:  # what lhotse raises on a malformed manifest
        raise DataError(f"{manifest}: cannot read cut #{n + 1} ({e})") from None


def _keep(bad: frozenset[str], cut) -> bool:
    return cut.id not in bad
