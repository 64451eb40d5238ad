"""What every task builder gets: the sources (read once per build), its sizes, the splitter and its
own random generator."""
from __future__ import annotations

import functools
import math
import zlib
from typing import Callable, Sequence, TypeVar

import numpy as np

from laura_core.manifest import SPLITS
from laura_plugins.preparers.mini import sources
from laura_plugins.preparers.mini.config import MiniConfig
from laura_plugins.preparers.mini.sentences import english_pool
from laura_plugins.preparers.mini.splits import Splitter, deal, text_key

T = TypeVar("T")


class Materials:
    """Prompts and lines are distinct in their own language: two English lines may share one
    translation ("Yes." and "Yeah."), and that text must not land in two splits."""

    def __init__(self, min_seconds: float, max_seconds: float):
        self.min_seconds, self.max_seconds = min_seconds, max_seconds

    @functools.cache
    def prompts(self, language: str) -> list[sources.Prompt]:
        return distinct([p for p in sources.asterisk_prompts(language) if self.min_seconds <= p.seconds <= self.max_seconds])

    @functools.cache
    def _fillets(self, language: str) -> list[sources.Line]:
        return sources.fillets_lines(language)

    def lines(self, language: str) -> list[sources.Line]:
        return distinct(self._fillets(language))

    def spoken_lines(self, language: str) -> list[sources.Line]:
        return distinct([line for line in self._fillets(language)
                         if line.path and self.min_seconds <= line.seconds <= self.max_seconds])

    @functools.cached_property
    def verses(self) -> list[sources.Verse]:
        return sources.bible_verses()

    @functools.cached_property
    def sentences(self) -> list[str]:
        """English sentences for the synthetic voices."""
        lines = [line.english for lang in ("cs", "nl") for line in self._fillets(lang)]
        return english_pool(lines + [v.english for v in self.verses])


class Context:
    def __init__(self, task: str, cfg: MiniConfig, materials: Materials, splitter: Splitter):
        self.task, self.cfg, self.materials, self.splitter = task, cfg, materials, splitter
        self.rng = np.random.default_rng([cfg.seed, zlib.crc32(task.encode())])

    def counts(self, share: float = 1.0) -> dict[str, int]:
        """This task's utterances per split, or ``share`` of them (at least one)."""
        return {s: math.ceil(n * share - 1e-9) for s, n in self.cfg.counts(self.task).items()}

    def pick(self, items: Sequence[T], key: Callable[[T], str], counts: dict[str, int]) -> dict[str, list[T]]:
        return self.splitter.pick(items, key, counts, self.rng)

    def deal(self, items: Sequence[T]) -> dict[str, list[T]]:
        return deal(items, self.cfg.fractions, self.rng)


def distinct(items: Sequence[T]) -> list[T]:
    """The first item of each ``text``."""
    firsts: dict[str, T] = {}
    for item in items:
        firsts.setdefault(text_key(item.text), item)
    return list(firsts.values())


def remaining(counts: dict[str, int], taken: dict[str, list]) -> dict[str, int]:
    """What is left of ``counts`` once ``taken`` is in."""
    return {s: max(0, counts[s] - len(taken[s])) for s in SPLITS}
