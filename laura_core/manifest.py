"""laura manifests: lhotse CutSets, one per task and split, with each task's fields on the cut.

    DST/<task>/<split>.jsonl.gz      a lhotse CutSet; splits are train, dev, test

    cut.id                  the record id, unique within the task
    cut.recording           the audio the model reads (asr, s2tt, aac, ser, slu; se: the noisy input)
                            or, for tts, the target speech; None for text-only tasks (mt)
    cut.duration            the audio's duration; for text-only cuts an estimate of reading time,
                            len(text) / CHARS_PER_SECOND, used only to batch them with audio
    cut.supervisions[0]     text (transcript, or the source text of mt), language, speaker
    cut.custom              the other fields a task needs, named as in its ``record_fields``:
                              s2tt, mt: translation (str), target_language (str)
                              aac: captions (list of str)
                              ser: emotion (str)
                              slu: intent (str), slots (list of {"type", "filler"})
                              se: clean (a lhotse Recording: the clean target of the noisy input)
                              later: codes (codec codes of the target audio)

``cut_to_record`` flattens a cut into the plain record a task formats (``Task.to_example``): audio
fields become file paths, so a recording must span its whole file (every preparer writes them so).
"""
from __future__ import annotations

from typing import Any

CHARS_PER_SECOND = 15.0  # reading-time estimate for text-only cuts
SPLITS = ("train", "dev", "test")


def cut_to_record(cut) -> dict[str, Any]:
    """The task record of a cut: id, audio (path), text, language, speaker and every custom field
    (recordings as paths)."""
    from lhotse import Recording

    record: dict[str, Any] = {"id": cut.id}
    if cut.has_recording:
        record["audio"] = recording_path(cut.recording)
    if cut.supervisions:
        sup = cut.supervisions[0]
        record.update({k: v for k, v in (("text", sup.text), ("language", sup.language), ("speaker", sup.speaker)) if v is not None})
    for key, value in (cut.custom or {}).items():
        record[key] = recording_path(value) if isinstance(value, Recording) else value
    return record


def recording_path(recording) -> str:
    """The file behind a single-file, single-source recording."""
    if len(recording.sources) != 1 or recording.sources[0].type != "file":
        raise ValueError(f"recording {recording.id!r}: expected one file source, got {recording.sources}")
    return recording.sources[0].source
