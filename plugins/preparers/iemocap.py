"""IEMOCAP (Busso et al., 2008) -> ser.

SRC is ``IEMOCAP_full_release/`` with ``Session1`` .. ``Session5``, each holding
``sentences/wav/<dialog>/<utterance>.wav`` (16 kHz) and ``dialog/EmoEvaluation/<dialog>.txt``, whose
utterance lines read ``[6.2901 - 8.2357] TAB Ses01F_impro01_F000 TAB neu TAB [2.5000, 2.5000, 2.5000]``
(start - end, utterance id, the evaluators' majority label, valence/activation/dominance).

Labels: with ``four_class`` (the default) the common 4-class setup, neu, hap (hap and exc merged),
ang and sad, and utterances of other labels are left out; without it every label is kept as
IEMOCAP writes it. ``xxx`` (no majority) is always left out. Left-out utterances are reported.

Splits by session: ``test_sessions`` (default [5]) -> test, ``dev_sessions`` (default [4]) -> dev,
the others -> train (for leave-one-session-out cross-validation, prepare once per fold).
id = the utterance id; speaker = its session and the speaker's gender letter (Ses01F_impro01_M003 ->
Ses01M: the dialog name's letter is the other actor's); language ``en``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from laura_core.errors import ConfigError
from laura_core.interfaces import CorpusPreparer
from laura_plugins.preparers.cuts import audio_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import Where, corpus_dir, load_recording, read_lines, require_dir

SESSIONS = (1, 2, 3, 4, 5)
FOUR_CLASS = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
NO_MAJORITY = "xxx"
UTTERANCE = re.compile(r"(Ses\d\d)[FM]_\w+_([FM])\d+")  # groups: session, speaker's gender


@dataclass
class IemocapConfig:
    four_class: bool = True
    dev_sessions: list[int] = field(default_factory=lambda: [4])
    test_sessions: list[int] = field(default_factory=lambda: [5])

    def __post_init__(self):
        name = type(self).__name__
        for key in ("dev_sessions", "test_sessions"):
            sessions = getattr(self, key)
            if not sessions or any(s not in SESSIONS for s in sessions):
                raise ConfigError(f"{name} (key {key!r}): {sessions} must name one or more of the sessions 1-5")
        shared = sorted(set(self.dev_sessions) & set(self.test_sessions))
        if shared:
            raise ConfigError(f"{name}: dev_sessions and test_sessions share {shared}")
        if set(SESSIONS) <= set(self.dev_sessions) | set(self.test_sessions):
            raise ConfigError(f"{name}: dev_sessions and test_sessions leave no session to train on")


class Iemocap(CorpusPreparer):
    def __init__(self, config: IemocapConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        corpus = corpus_dir(src, "iemocap")
        out = Manifests("iemocap", corpus, "ser")
        config = self.config
        for session in SESSIONS:
            split = "test" if session in config.test_sessions else "dev" if session in config.dev_sessions else "train"
            root = require_dir(corpus / f"Session{session}", f"IEMOCAP session {session}")
            wavs = require_dir(root / "sentences/wav", f"IEMOCAP session {session} utterance audio")
            for where, label, speaker in labels(root):
                emotion = FOUR_CLASS.get(label) if config.four_class else label
                if label == NO_MAJORITY:
                    out.skip("ser", split, where, "no majority label (xxx)")
                elif emotion is None:
                    out.skip("ser", split, where, f"label {label!r} outside the 4 classes")
                else:
                    id = where.record
                    recording = load_recording(wavs / id.rsplit("_", 1)[0] / f"{id}.wav", id, where, "audio")
                    out.add("ser", split, audio_cut(recording, language="en", speaker=speaker, emotion=emotion), where)
        return out.write(dst)


def labels(session: Path) -> Iterator[tuple[Where, str, str]]:
    """(where, majority label, speaker) of every utterance a session's evaluation files list."""
    evaluations = require_dir(session / "dialog/EmoEvaluation", f"IEMOCAP {session.name} emotion labels")
    for table in sorted(evaluations.glob("Ses*.txt")):
        for where, line in read_lines(table, "IEMOCAP emotion evaluation"):
            if not line.startswith("["):  # headers and the individual evaluators' lines
                continue
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) < 3 or not fields[2]:
                raise where.error("label", "expected '[start - end]', id, label and '[V, A, D]' separated by tabs")
            where = where.of(fields[1])
            utterance = UTTERANCE.fullmatch(fields[1])
            if not utterance:
                raise where.error("id", "not an IEMOCAP utterance id (like Ses01F_impro01_F000)")
            yield where, fields[2], utterance[1] + utterance[2]
