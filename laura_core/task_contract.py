"""`laura tasks`: what a registered task reads, writes and scores, without reading its code.

The contract of a task, from the task object itself: prompt token, modalities, the record fields and
where each is read on a lhotse cut, the reference and hypothesis records with a one-line example of
each, the metrics with direction and scale, and the scoring options with their defaults.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from laura_core.manifest import field_place
from laura_core.task import Field, FieldType, Task

# A one-line example value of each field type, for the record examples.
_EXAMPLE = {
    FieldType.TEXT: "a short sentence",
    FieldType.TEXTS: ["a caption", "another caption"],
    FieldType.LABEL: "label",
    FieldType.AUDIO: "wav/utt1.wav",
    FieldType.SLOTS: [{"type": "date", "filler": "tomorrow"}],
}


def example_record(fields: tuple[Field, ...]) -> str:
    return json.dumps({"id": "utt1", **{f.name: _EXAMPLE[f.type] for f in fields}}, ensure_ascii=False)


def options_with_defaults(options: type) -> list[tuple[str, Any]]:
    """``(dotted key, default)`` of every leaf of a scoring-options dataclass."""
    out = []
    for f in dataclasses.fields(options):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            out += [(f"{f.name}.{key}", value) for key, value in options_with_defaults(type(default))]
        else:
            out.append((f.name, default))
    return out


def describe(task: Task) -> str:
    """The contract of ``task`` as the text `laura tasks show NAME` prints."""
    lines = [f"{task.name}: {task.description}",
             f"  prompt token   {task.prompt_token}",
             f"  modalities     {task.input.value} -> {task.output.value}"
             + ("  (the input's transcript: text.ctc_weight joins a CTC head in decoding)" if task.transcribes else ""),
             "  record fields (manifest cuts; `laura validate --task " + task.name + "` checks them)"]
    lines += [f"    {f.name:<14} {f.type.value:<6} {field_place(f.name):<34} {f.doc}" for f in task.record_fields]
    lines += ["  reference record (ref.jsonl, what `laura infer` writes from the manifest)",
              f"    {example_record(task.ref_fields)}",
              "  hypothesis record (hyp.jsonl)",
              f"    {example_record(task.hyp_fields)}",
              "  metrics (higher or lower is better; scale)"]
    lines += [f"    {m.name:<20} {'higher' if m.higher_is_better else 'lower':<7} {m.scale:<9} {m.doc}"
              for m in task.metrics]
    options = options_with_defaults(task.Options)
    lines.append("  scoring options (`laura score --task " + task.name + " key=value`)" + ("" if options else ": none"))
    lines += [f"    {key} = {json.dumps(value)}" for key, value in options]
    return "\n".join(lines)
