"""Unified scoring: any registered task, from a reference and a hypothesis JSONL matched by ``id``.

Hypotheses missing for a reference id count as errors (the task's empty output) and are reported;
hypothesis ids with no reference are reported and ignored. Relative audio paths resolve against the
directory of the JSONL file that names them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from laura_core.config import load_config, to_dict
from laura_core.errors import DataError, LauraError
from laura_core.io import atomic_write_text, read_jsonl, write_json
from laura_core.registry import Registry
from laura_core.task import Field, FieldType, Pair, Task, TaskMetric, check_field

REF_FILE, HYP_FILE = "ref.jsonl", "hyp.jsonl"
N_EXAMPLES = 5  # ids shown when reporting missing or unknown hypotheses


@dataclass
class ScoreReport:
    task: str
    n: int
    metrics: dict[str, float | None]
    unavailable: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # where it came from, e.g. "asr/test" in an experiment folder

    def to_json(self) -> dict:
        return {
            "task": self.task,
            "n": self.n,
            "metrics": self.metrics,
            "unavailable": self.unavailable,
            "missing": {"count": len(self.missing), "examples": self.missing[:N_EXAMPLES]},
            "unknown": {"count": len(self.unknown), "examples": self.unknown[:N_EXAMPLES]},
            "meta": self.meta,
            "config": self.config,
        }


def load_records(path: str | Path, fields: Sequence[Field], allow_empty: bool = False) -> dict[str, dict]:
    """Read a JSONL file into ``{id: record}``, checking each record's ``fields``; an empty file is an
    error unless ``allow_empty`` (hypotheses: a model may have said nothing at all).

    Audio paths are made absolute. Errors name the file, line, record id and field.
    """
    path = Path(path)
    records: dict[str, dict] = {}
    lines: dict[str, int] = {}
    for lineno, record in read_jsonl(path):
        where = f"{path}:{lineno}"
        rid = record.get("id")
        if not isinstance(rid, str) or not rid:
            raise DataError(f"{where}: record has no string 'id' field")
        if rid in records:
            raise DataError(f"{where}: record {rid!r} duplicates the record on line {lines[rid]}")
        for spec in fields:
            if record.get(spec.name) is None and spec.optional:
                continue
            if record.get(spec.name) is None:
                raise DataError(f"{where}: record {rid!r}: missing field {spec.name!r}")
            try:
                check_field(record[spec.name], spec, rid)
            except DataError as e:
                raise DataError(f"{where}: {e}") from None
            if spec.type is FieldType.AUDIO:
                audio = Path(record[spec.name])
                audio = audio if audio.is_absolute() else path.parent / audio
                if not audio.is_file():
                    raise DataError(f"{where}: record {rid!r}, field {spec.name!r}: audio file not found: {audio}")
                problem = _unreadable(audio)
                if problem:
                    raise DataError(f"{where}: record {rid!r}, field {spec.name!r}: cannot read {audio} ({problem})")
                record[spec.name] = str(audio)
        records[rid] = record
        lines[rid] = lineno
    if not records and not allow_empty:
        raise DataError(f"{path}: no records")
    return records


def score_files(
    task: Task,
    ref_path: str | Path,
    hyp_path: str | Path,
    registry: Registry,
    overrides: Sequence[str] = (),
    config_path: str | Path | None = None,
) -> ScoreReport:
    options = load_config(task.Options, config_path, overrides)
    refs = load_records(ref_path, task.ref_fields)
    hyps = load_records(hyp_path, task.hyp_fields, allow_empty=True)  # every output empty: all missing
    pairs = [
        Pair(rid, ref, hyps[rid]) if rid in hyps else Pair(rid, ref, task.missing_hypothesis(ref), missing=True)
        for rid, ref in refs.items()
    ]
    result = task.score(pairs, options, registry)
    declared = {m.name for m in task.metrics}
    if set(result.metrics) != declared:
        raise LauraError(
            f"task {task.name} returned metrics {sorted(result.metrics)} but declares {sorted(declared)}"
        )
    metrics, unavailable, meta = dict(result.metrics), dict(result.unavailable), dict(result.meta)
    for name, extra in task_metrics(task, registry).items():
        scored = extra.score(pairs)
        if set(scored.metrics) != {m.name for m in extra.metrics}:
            raise LauraError(f"metric plugin {name} returned {sorted(scored.metrics)} but declares "
                             f"{sorted(m.name for m in extra.metrics)}")
        metrics.update(scored.metrics)
        unavailable.update(scored.unavailable)
        meta.setdefault("metric_plugins", {})[name] = scored.meta
    return ScoreReport(
        task=task.name,
        n=len(pairs),
        metrics=metrics,
        unavailable=unavailable,
        missing=[p.id for p in pairs if p.missing],
        unknown=[rid for rid in hyps if rid not in refs],
        meta=meta,
        config=to_dict(options),
    )


def task_metrics(task: Task, registry: Registry) -> dict[str, TaskMetric]:
    """The metric plugins registered for ``task`` (kind ``metric``), by component name."""
    found = {}
    for name, reg in sorted(registry.components("metric").items()):
        metric = registry.create("metric", name)
        if not isinstance(metric, TaskMetric):
            raise LauraError(f"metric plugin {name} ({reg.origin}) does not follow laura_core.task.TaskMetric")
        if metric.task != task.name:
            continue
        clash = {m.name for m in metric.metrics} & {m.name for m in task.metrics}
        if clash:
            raise LauraError(f"metric plugin {name} ({reg.origin}) reuses {task.name}'s own metric names {sorted(clash)}")
        found[name] = metric
    return found


def find_experiments(exp_dir: str | Path, tasks: Sequence[str]) -> list[tuple[str, str, Path]]:
    """Find ``(task, name, folder)`` for every folder under ``exp_dir`` holding ref.jsonl and hyp.jsonl.

    The task is the nearest enclosing folder named after a registered task, e.g.
    ``EXP/decode/asr/test/{ref,hyp}.jsonl`` is task ``asr``, name ``decode/asr/test``.
    """
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        raise DataError(f"{exp_dir}: not a directory")
    found = []
    for hyp in sorted(exp_dir.rglob(HYP_FILE)):
        folder = hyp.parent
        if not (folder / REF_FILE).is_file():
            raise DataError(f"{folder}: has {HYP_FILE} but no {REF_FILE}")
        rel = folder.relative_to(exp_dir)
        task = next((part for part in reversed(rel.parts) if part in tasks), None)
        if task is None:
            raise DataError(f"{folder}: no enclosing folder is named after a registered task ({', '.join(tasks)})")
        found.append((task, rel.as_posix(), folder))
    if not found:
        raise DataError(f"{exp_dir}: no folder with {REF_FILE} and {HYP_FILE}")
    return found


def score_dir(exp_dir: str | Path, registry: Registry, overrides: Sequence[str] = ()) -> list[ScoreReport]:
    """Score every experiment folder under ``exp_dir``; write each ``score.json`` and one
    ``RESULTS.md`` + ``results.json``. Overrides are ``TASK.key=value``."""
    tasks = registry.tasks()
    per_task: dict[str, list[str]] = {}
    for item in overrides:
        name, _, rest = item.partition(".")
        if name not in tasks or not rest:
            raise LauraError(f"override {item!r}: with --dir, overrides are TASK.key=value for a registered task")
        per_task.setdefault(name, []).append(rest)
    reports = []
    for task, name, folder in find_experiments(exp_dir, sorted(tasks)):
        report = score_files(tasks[task], folder / REF_FILE, folder / HYP_FILE, registry, per_task.get(task, ()))
        report.name = name
        write_json(folder / "score.json", report.to_json())
        reports.append(report)
    exp_dir = Path(exp_dir)
    atomic_write_text(exp_dir / "RESULTS.md", results_markdown(reports))
    write_json(exp_dir / "results.json", {r.name: r.to_json() for r in reports})
    return reports


# -- presentation -------------------------------------------------------------------------------


def format_value(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def format_report(report: ScoreReport) -> str:
    """A plain-text table of one report, with the notes a reader needs to trust it."""
    rows = [(k, format_value(v)) for k, v in report.metrics.items()]
    width = max(len(k) for k, _ in rows)
    lines = [f"task {report.task}: {report.n} references" + (f" ({report.name})" if report.name else "")]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += [f"  {k} unavailable: {why}" for k, why in report.unavailable.items()]
    if report.missing:
        lines.append(f"  missing hypotheses (scored as empty): {len(report.missing)}, e.g. {', '.join(report.missing[:N_EXAMPLES])}")
    if report.unknown:
        lines.append(f"  hypothesis ids with no reference (ignored): {len(report.unknown)}, e.g. {', '.join(report.unknown[:N_EXAMPLES])}")
    return "\n".join(lines)


def results_markdown(reports: Sequence[ScoreReport]) -> str:
    lines = [
        "# Results",
        "",
        "Written by `laura score --dir`. Fractions are in [0, 1]; BLEU and chrF on sacreBLEU's 0-100 scale.",
        "",
        "| task | set | n | missing | metrics |",
        "|---|---|---:|---:|---|",
    ]
    for r in reports:
        metrics = ", ".join(f"{k} {format_value(v)}" for k, v in r.metrics.items())
        lines.append(f"| {r.task} | {r.name} | {r.n} | {len(r.missing)} | {metrics} |")
    notes = [f"- {r.name}: {k} unavailable: {why}" for r in reports for k, why in r.unavailable.items()]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def _unreadable(path: Path) -> str | None:
    """Why soundfile cannot read ``path`` (its header and first frames), or None."""
    import soundfile as sf

    try:
        sf.info(str(path))
        sf.read(str(path), frames=1024, dtype="float32")
    except Exception as e:  # soundfile raises several types for damaged files
        return str(getattr(e, "error_string", e)) or type(e).__name__
    return None
