"""MELD (Poria et al., 2019) -> ser, with each utterance's words as its text.

SRC is ``MELD.Raw/``: the tables ``{train,dev,test}_sent_emo.csv`` (columns Dialogue_ID,
Utterance_ID, Emotion, Utterance, Speaker, ...) and the video folders the archives unpack to,
``train_splits/``, ``dev_splits_complete/`` and ``output_repeated_splits_test/``, holding
``dia<D>_utt<U>.mp4``. MELD ships no audio files and laura reads audio with soundfile, which cannot
open MP4, so extract the audio beside each video first, e.g. in each video folder::

    for f in *.mp4; do ffmpeg -nostdin -loglevel error -i "$f" -vn -ac 1 -ar 16000 "${f%.mp4}.wav"; done

Splits: MELD's own train, dev and test. id = ``<split>_dia<D>_utt<U>`` (dialogue numbers restart in
every split); ``emotion`` = the Emotion column as MELD writes it (neutral, joy, sadness, anger,
surprise, fear, disgust); text = Utterance; speaker = Speaker; language ``en``. A row whose video the
release lacks (no MP4, so no WAV) is left out (reported); a WAV missing beside its MP4 is a DataError.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from laura_core.interfaces import CorpusPreparer
from laura_plugins.preparers.cuts import audio_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import corpus_dir, load_recording, read_table, require_dir

VIDEOS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
COLUMNS = ("Dialogue_ID", "Utterance_ID", "Emotion", "Utterance", "Speaker")


@dataclass
class MeldConfig:
    """No options."""


class Meld(CorpusPreparer):
    def __init__(self, config: MeldConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        corpus = corpus_dir(src, "meld")
        out = Manifests("meld", corpus, "ser")
        for split, videos in VIDEOS.items():
            folder = require_dir(corpus / videos, f"MELD {split} videos, with the audio extracted beside them")
            for where, row in read_table(corpus / f"{split}_sent_emo.csv", COLUMNS, f"MELD {split} annotations"):
                for column in ("Dialogue_ID", "Utterance_ID"):
                    if not row[column].isdigit():
                        raise where.error(column, f"{row[column]!r} is not a number")
                name = f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"
                where = where.of(f"{split}_{name}")
                wav, mp4 = folder / f"{name}.wav", folder / f"{name}.mp4"
                if not wav.is_file() and mp4.is_file():
                    raise where.error("audio", f"{wav} not found: extract it from {mp4} "
                                               f"(ffmpeg -i {mp4.name} -vn -ac 1 -ar 16000 {wav.name})")
                if not wav.is_file():
                    out.skip("ser", split, where, "no video in the MELD release")
                elif not row["Emotion"]:
                    out.skip("ser", split, where, "empty emotion")
                else:
                    recording = load_recording(wav, where.record, where, "audio")
                    out.add("ser", split, audio_cut(recording, row["Utterance"] or None, "en", row["Speaker"] or None,
                                                    emotion=row["Emotion"]), where)
        return out.write(dst)
