"""Training text for tokenizers, read from the files the toolkit already uses: a task's manifest as
the task formats its text (``task_texts``), JSONL records, lhotse cut or supervision manifests
(``.jsonl`` or ``.jsonl.gz``), and plain text with one sentence a line."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from laura_core.errors import DataError
from laura_core.io import read_jsonl

if TYPE_CHECKING:
    from laura_core.task import Task


def task_texts(task: "Task", manifest: str | Path) -> Iterator[str]:
    """Every text the model reads or writes for ``task`` on a manifest, exactly as the task formats it
    (an slu target with its separators, each of an aac clip's captions), and the transcripts of audio
    inputs: a tokenizer trained on these can spell every target, where one trained on raw fields may
    miss the format's own symbols."""
    from laura_core.manifest import cut_to_record, read_cuts
    from laura_core.task import Modality

    if not Path(manifest).is_file():
        raise DataError(f"{manifest}: file not found (--data {task.name}=MANIFEST)")
    for cut in read_cuts(manifest):
        record = cut_to_record(cut)
        texts = [t for ex in task.to_examples(record) for t in (ex.source, ex.target) if isinstance(t, str)]
        if task.input is Modality.AUDIO and isinstance(record.get("text"), str):
            texts.append(record["text"])  # what the audio says: the CTC loss learns it (ModelConfig.ctc_weight)
        yield from (t for t in dict.fromkeys(texts) if t.strip())


def iter_texts(path: str | Path, fields: Sequence[str] = ("text",), missing: list[str] | None = None) -> Iterator[str]:
    """Yield the non-empty text of ``fields`` in every record of ``path``; a field holding a list of
    strings yields each. A ``.txt`` file yields its non-blank lines.

    A record that yields no text is an error (``DataError`` naming where it is), unless ``missing``
    is given: then its location is appended there, so the caller can report how many were left out.
    In a lhotse cut, the fields are looked up in each supervision (``custom`` included) and in the
    cut's ``custom``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".txt":
        with open(path, encoding="utf-8") as f:
            yield from filter(None, map(str.strip, f))
        return
    if _is_lhotse(path):
        records = _lhotse_records(path)
    elif path.suffix == ".gz":
        raise DataError(f"{path}: compressed files are read only as lhotse manifests")
    else:
        records = _jsonl_records(path)
    for where, views in records:
        texts = [text for view in views for field in fields for text in _field_texts(view, field, where)]
        if not texts:
            if missing is None:
                raise DataError(f"{where}: no text in field(s) {', '.join(fields)}")
            missing.append(where)
        yield from texts


def _is_lhotse(path: Path) -> bool:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "{}")
        record = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: neither JSONL nor a lhotse manifest ({e})") from None
    if not isinstance(record, dict):
        return False
    is_cut = "supervisions" in record or str(record.get("type", "")).endswith("Cut")
    return is_cut or {"recording_id", "start", "duration"} <= record.keys()


def _jsonl_records(path: Path) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    for lineno, record in read_jsonl(path):
        yield f"{path}:{lineno}", [record]


def _lhotse_records(path: Path) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    from lhotse import SupervisionSegment, load_manifest_lazy

    for item in load_manifest_lazy(path):
        if isinstance(item, SupervisionSegment):
            supervisions, custom = [item], None
        else:
            supervisions, custom = item.supervisions, item.custom
        # A supervision's custom fields sit beside its own (text, language, speaker).
        views = [{**s.to_dict(), **(s.custom or {})} for s in supervisions]
        yield f"{path}: {item.id}", [*views, custom or {}]


def _field_texts(view: Mapping[str, Any], field: str, where: str) -> list[str]:
    value = view.get(field)
    values = value if isinstance(value, list) else [value]
    if not all(v is None or isinstance(v, str) for v in values):
        raise DataError(f"{where}: field {field!r} must hold text or a list of texts, got {value!r}")
    return [v for v in values if v and v.strip()]
