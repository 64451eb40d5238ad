"""Parallel text -> mt.

SRC is a folder holding, for each split, either two files aligned line by line,
``<split>.<src_lang>.txt`` and ``<split>.<tgt_lang>.txt`` (UTF-8, one sentence a line), or one
``<split>.tsv`` (``source TAB target`` a line, no header). ``train`` is required; a missing ``dev``
or ``test`` is carved out of train: ``dev_size`` and ``test_size`` sentence pairs chosen by a hash
of their text, so the same corpus always gives the same splits whatever its line order.

id = ``<split of the file>-<line number>``; text = the source sentence, language = ``src_lang``;
``translation`` = the target sentence, ``target_language`` = ``tgt_lang``; no audio (the duration
estimates reading time). Files of different line counts are a DataError; a line pair with an empty
side is left out (reported).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from omegaconf import MISSING

from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import CorpusPreparer
from laura_core.manifest import SPLITS
from laura_plugins.preparers.cuts import text_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import Where, corpus_dir, text_lines


@dataclass
class ParallelTextConfig:
    src_lang: str = MISSING
    tgt_lang: str = MISSING
    dev_size: int = 1000  # pairs carved out of train when no dev file is given
    test_size: int = 1000  # likewise for test

    def __post_init__(self):
        name = type(self).__name__
        if self.src_lang == self.tgt_lang:
            raise ConfigError(f"{name}: src_lang and tgt_lang are both {self.src_lang!r}")
        for key in ("dev_size", "test_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{name} (key {key!r}): must be at least 1")


class Pair(NamedTuple):
    where: Where
    source: str
    target: str


class ParallelText(CorpusPreparer):
    def __init__(self, config: ParallelTextConfig):
        self.config = config

    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        corpus = corpus_dir(src, "parallel_text")
        out = Manifests("parallel_text", corpus, "mt")
        given = {split: self.read(corpus, split) for split in SPLITS}
        if given["train"] is None:
            raise DataError(f"{corpus}: no train data: expected {self.names('train')}")
        usable = {}
        for split, pairs in given.items():
            if pairs is None:
                continue
            usable[split] = []
            for pair in pairs:
                if pair.source and pair.target:
                    usable[split].append(pair)
                else:
                    out.skip("mt", split, pair.where, "empty source or target")
        usable.update(self.carve(usable["train"], [s for s in SPLITS if s not in usable]))
        for split, pairs in usable.items():
            for pair in pairs:
                out.add("mt", split, text_cut(pair.where.record, pair.source, self.config.src_lang,
                                              translation=pair.target, target_language=self.config.tgt_lang), pair.where)
        return out.write(dst)

    def names(self, split: str) -> str:
        return f"{split}.{self.config.src_lang}.txt and {split}.{self.config.tgt_lang}.txt, or {split}.tsv"

    def read(self, corpus: Path, split: str) -> list[Pair] | None:
        """The split's line pairs, or None when neither form of the split is there."""
        source, target = (corpus / f"{split}.{lang}.txt" for lang in (self.config.src_lang, self.config.tgt_lang))
        tsv = corpus / f"{split}.tsv"
        aligned = source.is_file() or target.is_file()
        if aligned and tsv.is_file():
            raise DataError(f"{corpus}: {split} is given twice ({self.names(split)}); keep one")
        if tsv.is_file():
            return read_tsv(tsv, split)
        return read_aligned(source, target, split) if aligned else None

    def carve(self, train: list[Pair], splits: list[str]) -> dict[str, list[Pair]]:
        """Train and the ``splits`` carved out of it, each by its size, in the order of a hash of
        the pairs' text."""
        if not splits:
            return {"train": train}
        sizes = {split: getattr(self.config, f"{split}_size") for split in splits}
        if sum(sizes.values()) >= len(train):
            carve = " and ".join(f"{n} for {s}" for s, n in sizes.items())
            raise DataError(f"train ({self.names('train')}): {len(train)} usable pairs are too few to carve "
                            f"{carve} out of them (options dev_size, test_size)")
        ranked = sorted(train, key=lambda p: (hashlib.sha256(f"{p.source}\t{p.target}".encode()).digest(), p.where.line))
        carved, start = {}, 0
        for split, size in sizes.items():
            carved[split], start = ranked[start:start + size], start + size
        carved["train"] = sorted(ranked[start:], key=lambda p: p.where.line)
        return carved


def record(path: Path, number: int, split: str) -> Where:
    return Where(path, number, f"{split}-{number:08d}")


def read_aligned(source: Path, target: Path, split: str) -> list[Pair]:
    src_lines = text_lines(source, f"source side of {split}")
    tgt_lines = text_lines(target, f"target side of {split}")
    if len(src_lines) != len(tgt_lines):
        raise DataError(f"{source} has {len(src_lines)} lines but {target} has {len(tgt_lines)}: "
                        "the two files must be aligned line by line")
    return [Pair(record(source, n, split), s.strip(), t.strip()) for n, (s, t) in enumerate(zip(src_lines, tgt_lines), 1)]


def read_tsv(path: Path, split: str) -> list[Pair]:
    pairs = []
    for n, line in enumerate(text_lines(path, f"{split} sentence pairs"), 1):
        fields = line.split("\t") if line.strip() else ["", ""]
        if len(fields) != 2:
            raise record(path, n, split).error("target", f"expected 2 tab-separated fields (source, target), got {len(fields)}")
        pairs.append(Pair(record(path, n, split), fields[0].strip(), fields[1].strip()))
    return pairs
