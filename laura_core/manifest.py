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
                              tts, se: codes (list of int: first-group codec codes of the target audio)
                                and codec (the identity of the codec that made them), both written by
                                `laura codec encode`; training an LM on these tasks needs them

``cut_to_record`` flattens a cut into the plain record a task formats (``Task.to_example``): audio
fields become file paths, so a recording must span its whole file (every preparer writes them so).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from laura_core.errors import DataError

CHARS_PER_SECOND = 15.0  # reading-time estimate for text-only cuts
SPLITS = ("train", "dev", "test")
CODES = "codes"  # custom field with the target audio's first-group codec codes
CODEC = "codec"  # custom field with the identity of the codec that made them


def audio_cut(recording, text: str | None = None, language: str | None = None,
              speaker: str | None = None, **custom: Any):
    """A cut spanning the whole ``recording``, laid out as above; its id is the recording's."""
    from lhotse import SupervisionSegment

    cut = recording.to_cut()
    cut.supervisions = [SupervisionSegment(
        id=cut.id, recording_id=recording.id, start=0.0, duration=recording.duration, channel=cut.channel,
        text=text, language=language, speaker=speaker,
    )]
    cut.custom = custom or None
    return cut


def text_cut(id: str, text: str, language: str | None = None, **custom: Any):
    """A cut without audio (mt, tts); its duration estimates reading time, only to batch it with audio."""
    from lhotse import SupervisionSegment
    from lhotse.cut import MonoCut

    duration = len(text) / CHARS_PER_SECOND
    supervision = SupervisionSegment(id=id, recording_id=id, start=0.0, duration=duration, text=text, language=language)
    return MonoCut(id=id, start=0.0, duration=duration, channel=0, supervisions=[supervision], custom=custom or None)


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


# Where each record field lives on a lhotse cut; any other field is read from cut.custom.
FIELD_PLACES = {"id": "cut.id", "audio": "cut.recording", "text": "cut.supervisions[0].text",
                "language": "cut.supervisions[0].language", "speaker": "cut.supervisions[0].speaker"}


def field_place(name: str) -> str:
    """Where record field ``name`` is read from on a cut (what an error about it says)."""
    return FIELD_PLACES.get(name, f"cut.custom[{name!r}]")


def recording_path(recording) -> str:
    """The file behind a single-file, single-source recording."""
    if len(recording.sources) != 1 or recording.sources[0].type != "file":
        raise ValueError(f"recording {recording.id!r}: expected one file source, got {recording.sources}")
    return recording.sources[0].source


def field_recording(cut, name: str):
    """The lhotse Recording behind audio field ``name`` of a cut (``audio`` is the cut's own), or None."""
    from lhotse import Recording

    if name == "audio":
        return cut.recording if cut.has_recording else None
    value = (cut.custom or {}).get(name)
    return value if isinstance(value, Recording) else None


def read_cuts(path):
    """The CutSet at ``path``, read lazily."""
    from lhotse import load_manifest_lazy

    if not Path(path).is_file():
        raise DataError(f"{path}: file not found")
    try:
        return load_manifest_lazy(path)
    except UnicodeDecodeError:
        raise DataError(f"{path}: {first_non_utf8(path)}") from None
    except Exception as e:  # lhotse raises several types for files that are not manifests
        raise DataError(f"{path}: not a lhotse manifest ({e})") from None


def first_non_utf8(path) -> str:
    """Where a (possibly gzipped) text file first stops being UTF-8: line, column and byte."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return f"line {lineno}: not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1})"
    return "not UTF-8"


def manifest_stats(path) -> tuple[int, float]:
    """Number of cuts in a manifest and the seconds of audio they hold (text-only cuts count no audio)."""
    n, seconds = 0, 0.0
    for cut in read_cuts(path):
        n += 1
        seconds += cut.duration if cut.has_recording else 0.0
    return n, seconds
