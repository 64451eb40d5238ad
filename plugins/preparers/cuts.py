"""Cuts laid out as ``laura_core.manifest`` says: one supervision with text, language and speaker;
the task's other fields in ``cut.custom``."""
from __future__ import annotations

from typing import Any

from lhotse import Recording, SupervisionSegment
from lhotse.cut import Cut, MonoCut

from laura_core.manifest import CHARS_PER_SECOND


def audio_cut(recording: Recording, text: str | None = None, language: str | None = None,
              speaker: str | None = None, **custom: Any) -> Cut:
    """A cut spanning the whole ``recording``; its id is the recording's."""
    cut = recording.to_cut()
    cut.supervisions = [SupervisionSegment(
        id=cut.id, recording_id=recording.id, start=0.0, duration=recording.duration, channel=cut.channel,
        text=text, language=language, speaker=speaker,
    )]
    cut.custom = custom or None
    return cut


def text_cut(id: str, text: str, language: str, **custom: Any) -> Cut:
    """A cut without audio (mt); its duration estimates reading time, only to batch it with audio."""
    duration = len(text) / CHARS_PER_SECOND
    supervision = SupervisionSegment(id=id, recording_id=id, start=0.0, duration=duration, text=text, language=language)
    return MonoCut(id=id, start=0.0, duration=duration, channel=0, supervisions=[supervision], custom=custom or None)
