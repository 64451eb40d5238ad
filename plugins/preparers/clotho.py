"""Clotho (v2.x) -> aac.

SRC holds the caption tables ``clotho_captions_{development,validation,evaluation}.csv`` (columns
file_name, caption_1 .. caption_5) and the audio folders ``development/``, ``validation/`` and
``evaluation/`` that ``clotho_audio_<split>.7z`` unpack to (44.1 kHz WAV).

Splits: development -> train, validation -> dev, evaluation -> test. id = the file name without
its extension; ``captions`` = the clip's non-empty captions in column order; language ``en``. A clip
with no caption at all is left out (reported).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from laura_core.interfaces import CorpusPreparer
from laura_plugins.preparers.cuts import audio_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import corpus_dir, load_clip, read_table, require_dir

SPLITS = {"development": "train", "validation": "dev", "evaluation": "test"}
CAPTIONS = tuple(f"caption_{k}" for k in range(1, 6))


@dataclass
class ClothoConfig:
    """No options."""


class Clotho(CorpusPreparer):
    def __init__(self, config: ClothoConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        corpus = corpus_dir(src, "clotho")
        out = Manifests("clotho", corpus, "aac")
        for name, split in SPLITS.items():
            audio = require_dir(corpus / name, f"Clotho {name} audio")
            table = corpus / f"clotho_captions_{name}.csv"
            for where, row in read_table(table, ("file_name", *CAPTIONS), f"Clotho {name} captions"):
                recording, where = load_clip(audio, row["file_name"], where, "file_name")
                captions = [row[c] for c in CAPTIONS if row[c]]
                if captions:
                    out.add("aac", split, audio_cut(recording, language="en", captions=captions), where)
                else:
                    out.skip("aac", split, where, "no caption")
        return out.write(dst)
