"""LibriSpeech (OpenSLR 12) -> asr, through ``lhotse.recipes.prepare_librispeech``.

SRC is the ``LibriSpeech/`` folder as the archives unpack: ``<part>/<reader>/<chapter>/`` holds
``<reader>-<chapter>.trans.txt`` (lines ``<utterance id> <TEXT>``) and ``<utterance id>.flac``.

Splits: ``train`` <- every ``train-*`` part present (or those named by ``train_parts``);
``dev`` <- dev-clean; ``test`` <- test-clean; and, when present, ``dev_other`` <- dev-other and
``test_other`` <- test-other. Texts stay as the corpus writes them (upper case, no punctuation);
language ``en``; speaker = the reader id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import CorpusPreparer
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.recipes import add_recipe_part
from laura_plugins.preparers.sources import Where, corpus_dir, read_lines, require_dir

TRAIN_PARTS = ("train-clean-100", "train-clean-360", "train-other-500")
# The clean dev and test parts are the standard dev and test splits; the "other" ones keep their names.
EVAL_PARTS = {"dev-clean": "dev", "test-clean": "test", "dev-other": "dev_other", "test-other": "test_other"}


@dataclass
class LibriSpeechConfig:
    train_parts: list[str] = field(default_factory=list)  # empty: every train-* part present
    num_jobs: int = 1  # threads lhotse reads audio headers with

    def __post_init__(self):
        check_train_parts(type(self).__name__, self.train_parts)


def check_train_parts(config: str, parts: list[str]) -> None:
    unknown = [p for p in parts if p not in TRAIN_PARTS]
    if unknown:
        raise ConfigError(f"{config} (key 'train_parts'): unknown part(s) {', '.join(unknown)}; "
                          f"parts are {', '.join(TRAIN_PARTS)}")


def libri_parts(corpus: Path, train_parts: list[str]) -> dict[str, str]:
    """part -> split for the parts to prepare (LibriSpeech and LibriTTS share the layout)."""
    train = train_parts or [p for p in TRAIN_PARTS if (corpus / p).is_dir()]
    if not train:
        raise DataError(f"{corpus}: no train part found (folders {', '.join(TRAIN_PARTS)})")
    for part in (*train, "dev-clean", "test-clean"):
        require_dir(corpus / part, f"the {part} part")
    other = [p for p in ("dev-other", "test-other") if (corpus / p).is_dir()]
    return {**dict.fromkeys(train, "train"), **{p: EVAL_PARTS[p] for p in ("dev-clean", "test-clean", *other)}}


class LibriSpeech(CorpusPreparer):
    def __init__(self, config: LibriSpeechConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        from lhotse.recipes import prepare_librispeech

        corpus = corpus_dir(src, "librispeech")
        parts = libri_parts(corpus, self.config.train_parts)
        expected = {part: utterances(corpus / part) for part in parts}
        manifests = prepare_librispeech(corpus, dataset_parts=list(parts), num_jobs=self.config.num_jobs)
        out = Manifests("librispeech", corpus, "asr")
        for part, split in parts.items():
            add_recipe_part(out, "asr", split, manifests[part], expected[part], "en",
                            dropped="left out by lhotse.recipes.prepare_librispeech")
        return out.write(dst)


def utterances(part: Path) -> dict[str, Where]:
    """Every utterance the part's transcripts list; one without text or audio is a DataError (the
    recipe would crash on the first and silently drop the second)."""
    found = {}
    for trans in sorted(part.rglob("*.trans.txt")):
        for where, line in read_lines(trans, "LibriSpeech transcript"):
            id, _, text = line.partition(" ")
            where = where.of(id)
            if not text.strip():
                raise where.error("text", "no transcript after the utterance id")
            if not (trans.parent / f"{id}.flac").is_file():
                raise where.error("audio", f"audio file {trans.parent / f'{id}.flac'} not found")
            found[id] = where
    return found
