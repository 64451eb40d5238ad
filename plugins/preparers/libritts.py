"""LibriTTS (OpenSLR 60; LibriTTS-R, OpenSLR 141, has the same layout) -> tts, through
``lhotse.recipes.prepare_libritts``.

SRC is the ``LibriTTS/`` folder as the archives unpack: ``<part>/<reader>/<chapter>/`` holds
``<reader>_<chapter>.trans.tsv`` (lines ``<id> TAB <original text> TAB <normalized text>``),
``<reader>_<chapter>.book.tsv`` and ``<id>.wav`` (24 kHz).

Splits as for LibriSpeech: ``train`` <- every ``train-*`` part present (or ``train_parts``);
``dev`` <- dev-clean; ``test`` <- test-clean; ``dev_other``/``test_other`` when present.
The text is the corpus's original text by default (``text=normalized`` picks its normalized
text: numbers and abbreviations spelled out); language ``en``; speaker = the reader id. Utterances
lhotse's recipe excludes (files known to be corrupt) are listed in the report. Every dev and test
utterance gets a voice prompt for zero-shot tts: ``prompt`` (another utterance of its reader, drawn
with a fixed seed) and ``prompt_text``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from laura_core.errors import ConfigError
from laura_core.interfaces import CorpusPreparer
from laura_plugins.preparers.librispeech import check_train_parts, libri_parts
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.recipes import add_recipe_part
from laura_plugins.preparers.sources import Where, corpus_dir, read_lines, require_file

TEXTS = ("original", "normalized")


@dataclass
class LibriTTSConfig:
    train_parts: list[str] = field(default_factory=list)  # empty: every train-* part present
    text: str = "original"  # or "normalized"
    num_jobs: int = 1  # threads lhotse reads audio headers with

    def __post_init__(self):
        check_train_parts(type(self).__name__, self.train_parts)
        if self.text not in TEXTS:
            raise ConfigError(f"{type(self).__name__} (key 'text'): {self.text!r} is not one of {', '.join(TEXTS)}")


class LibriTTS(CorpusPreparer):
    def __init__(self, config: LibriTTSConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        from lhotse.recipes import prepare_libritts

        corpus = corpus_dir(src, "libritts")
        parts = libri_parts(corpus, self.config.train_parts)
        expected = {part: utterances(corpus / part) for part in parts}
        manifests = prepare_libritts(corpus, dataset_parts=list(parts), num_jobs=self.config.num_jobs)
        # The recipe's supervision text is the normalized one; it keeps the original in custom.
        text = (lambda s: s.custom["orig_text"]) if self.config.text == "original" else (lambda s: s.text)
        out = Manifests("libritts", corpus, "tts")
        for part, split in parts.items():
            add_recipe_part(out, "tts", split, manifests[part], expected[part], "en",
                            dropped="left out by lhotse.recipes.prepare_libritts", text=text)
        # Zero-shot tts: every evaluation utterance gets a fixed prompt of its reader (LauraTTS's protocol).
        return out.write(dst, prompted={"tts": [split for split in parts.values() if split != "train"]})


def utterances(part: Path) -> dict[str, Where]:
    """Every utterance the part's transcripts list; a malformed line, a missing audio file or book
    file is a DataError (the recipe would crash, or drop the utterance with a log line)."""
    found = {}
    for trans in sorted(part.rglob("*.trans.tsv")):
        if trans.name.startswith("._"):  # macOS resource forks shipped in some copies; the recipe skips them too
            continue
        require_file(trans.with_name(trans.name.replace(".trans.tsv", ".book.tsv")), "LibriTTS book file")
        for where, line in read_lines(trans, "LibriTTS transcript"):
            fields = line.split("\t")
            where = where.of(fields[0])
            if len(fields) != 3:
                raise where.error("text", f"expected 3 tab-separated fields (id, original, normalized), got {len(fields)}")
            if not (trans.parent / f"{fields[0]}.wav").is_file():
                raise where.error("audio", f"audio file {trans.parent / f'{fields[0]}.wav'} not found")
            found[fields[0]] = where
    return found
