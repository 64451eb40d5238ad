"""AISHELL-1 (OpenSLR 33) -> asr (Mandarin), through ``lhotse.recipes.prepare_aishell``.

SRC is the folder holding ``data_aishell/``: ``transcript/aishell_transcript_v0.8.txt`` (lines
``<utterance id> <words separated by spaces>``) and ``wav/{train,dev,test}/<speaker>/<id>.wav``
(16 kHz), made by unpacking each ``wav/<speaker>.tar.gz`` in ``wav/``.

Splits: the corpus's own train, dev and test. The text is the recipe's: the transcript upper-cased,
full-width a b c k t made ASCII and the spaces between words removed; language ``zh``; speaker =
the speaker folder. Audio files without a transcript line (the corpus has some) are listed in the
report.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from laura_core.errors import DataError
from laura_core.interfaces import CorpusPreparer
from laura_core.manifest import SPLITS
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.recipes import add_recipe_part
from laura_plugins.preparers.sources import Where, corpus_dir, require_dir, require_file

TRANSCRIPT = "data_aishell/transcript/aishell_transcript_v0.8.txt"


@dataclass
class AishellConfig:
    """No options."""


class Aishell(CorpusPreparer):
    def __init__(self, config: AishellConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        from lhotse.recipes import prepare_aishell

        corpus = corpus_dir(src, "aishell")
        transcript = require_file(corpus / TRANSCRIPT, "AISHELL-1 transcript")
        wav = require_dir(corpus / "data_aishell/wav", "AISHELL-1 audio")
        expected = {split: audio_files(require_dir(wav / split, f"AISHELL-1 {split} audio")) for split in SPLITS}
        check_unpacked(wav)
        manifests = prepare_aishell(corpus)
        out = Manifests("aishell", corpus, "asr")
        for split in SPLITS:
            add_recipe_part(out, "asr", split, manifests[split], expected[split], "zh",
                            dropped=f"no line in {transcript.name}")
        return out.write(dst)


def audio_files(folder: Path) -> dict[str, Where]:
    return {path.stem: Where(path, record=path.stem) for path in sorted(folder.rglob("*.wav"))}


def check_unpacked(wav: Path) -> None:
    """Each speaker archive must be unpacked: its audio would otherwise be missing unnoticed."""
    for archive in sorted(wav.glob("*.tar.gz")):
        speaker = archive.name.removesuffix(".tar.gz")
        if not any((wav / split / speaker).is_dir() for split in SPLITS):
            raise DataError(f"{archive}: not unpacked (no {speaker} folder in {wav}/train, dev or test); "
                            f"run 'tar xzf {archive.name}' in {wav}")
