"""CoVoST 2 -> s2tt, and asr from the transcripts of the same Common Voice clips.

SRC is the Common Voice folder of the source language (``cv-corpus-*/<src_lang>/``) holding
``clips/`` (MP3) and the CoVoST tables ``covost_v2.<src_lang>_<tgt_lang>.{train,dev,test}.tsv``
that CoVoST's ``get_covost_splits.py`` writes there: tab-separated and unquoted, with the columns
path, sentence, translation, client_id.

Splits: CoVoST's own train, dev and test. id = the clip's file name without its extension;
text = the transcript (``sentence``); language = ``src_lang``; speaker = ``client_id``;
s2tt adds ``translation`` and ``target_language`` = ``tgt_lang``. A row with an empty translation
is left out of s2tt, one with an empty transcript out of asr (both reported).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from laura_core.interfaces import CorpusPreparer
from laura_core.manifest import SPLITS
from laura_plugins.preparers.cuts import audio_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import corpus_dir, load_clip, read_table, require_dir

COLUMNS = ("path", "sentence", "translation", "client_id")


@dataclass
class CoVoST2Config:
    src_lang: str = MISSING  # as CoVoST names it: fr, de, zh-CN, en, ...
    tgt_lang: str = MISSING


class CoVoST2(CorpusPreparer):
    def __init__(self, config: CoVoST2Config):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        corpus = corpus_dir(src, "covost2")
        clips = require_dir(corpus / "clips", "Common Voice clips")
        lang, target = self.config.src_lang, self.config.tgt_lang
        out = Manifests("covost2", corpus, "s2tt", "asr")
        for split in SPLITS:
            table = corpus / f"covost_v2.{lang}_{target}.{split}.tsv"
            for where, row in read_table(table, COLUMNS, f"CoVoST 2 {split} split", delimiter="\t"):
                recording, where = load_clip(clips, row["path"], where, "path")
                transcript, translation, speaker = row["sentence"] or None, row["translation"], row["client_id"] or None
                if translation:
                    out.add("s2tt", split, audio_cut(recording, transcript, lang, speaker,
                                                     translation=translation, target_language=target), where)
                else:
                    out.skip("s2tt", split, where, "empty translation")
                if transcript:
                    out.add("asr", split, audio_cut(recording, transcript, lang, speaker), where)
                else:
                    out.skip("asr", split, where, "empty transcript")
        return out.write(dst)
