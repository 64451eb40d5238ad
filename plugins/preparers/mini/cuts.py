"""What a task builder returns (utterances whose audio is still a spec), and how they become lhotse
cuts and manifests (see ``laura_core.manifest``)."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from laura_core.io import atomic_write_bytes
from laura_core.manifest import CHARS_PER_SECOND
from laura_plugins.preparers.mini.audio import RATE, Renderable


@dataclass(frozen=True)
class Wav:
    """A wav file of the corpus: where it goes (relative to the corpus root) and how it is made."""

    path: str
    source: Renderable

    @property
    def id(self) -> str:
        return self.path.removeprefix("audio/").removesuffix(".wav").replace("/", "-")


@dataclass
class Utterance:
    id: str
    text: str | None  # the transcript, the text to speak, the source text (mt); None for sounds (aac)
    language: str
    speaker: str | None = None
    audio: Wav | None = None  # None: a text-only cut (mt)
    custom: dict[str, Any] = field(default_factory=dict)  # a Wav value becomes a lhotse Recording

    def wavs(self) -> list[Wav]:
        return [w for w in (self.audio, *self.custom.values()) if isinstance(w, Wav)]


def to_cut(utt: Utterance, root: Path, samples: dict[str, int]):
    """The lhotse cut of ``utt``; ``samples`` gives the length of every rendered wav by path."""
    from lhotse import MonoCut, SupervisionSegment

    recording = _recording(utt.audio, root, samples) if utt.audio else None
    duration = recording.duration if recording else len(utt.text or "") / CHARS_PER_SECOND
    supervision = SupervisionSegment(id=utt.id, recording_id=recording.id if recording else utt.id, start=0.0,
                                     duration=duration, channel=0, text=utt.text, language=utt.language,
                                     speaker=utt.speaker)
    custom = {k: _recording(v, root, samples) if isinstance(v, Wav) else v for k, v in utt.custom.items()}
    return MonoCut(id=utt.id, start=0.0, duration=duration, channel=0, supervisions=[supervision],
                   recording=recording, custom=custom or None)


def _recording(wav: Wav, root: Path, samples: dict[str, int]):
    from lhotse import AudioSource, Recording

    n = samples[wav.path]
    return Recording(id=wav.id, sources=[AudioSource(type="file", channels=[0], source=str(root / wav.path))],
                     sampling_rate=RATE, num_samples=n, duration=n / RATE)


def write_cuts(path: Path, cuts) -> Path:
    """A lhotse CutSet manifest, byte-identical for identical cuts (gzip without a timestamp)."""
    lines = "".join(json.dumps(cut.to_dict(), ensure_ascii=False) + "\n" for cut in cuts)
    return atomic_write_bytes(path, gzip.compress(lines.encode("utf-8"), mtime=0))
