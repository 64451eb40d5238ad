"""Which split each item goes to.

Items carrying text are split by a key, the English text they carry (transcript, translation or
sentence to speak), hashed with the seed: one sentence lands in the same split in every task and
every language, so nothing a task is tested on is trained on by another. Short lists (sound files,
voices) are dealt out by quota instead.
"""
from __future__ import annotations

import hashlib
import re
from typing import Callable, Sequence, TypeVar

import numpy as np

from laura_core.manifest import SPLITS

T = TypeVar("T")


def text_key(text: str) -> str:
    """Case, punctuation and spacing do not make two sentences different."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class Splitter:
    def __init__(self, seed: int, fractions: dict[str, float]):
        self.seed = seed
        self.fractions = fractions

    def split_of(self, text: str) -> str:
        digest = hashlib.blake2b(f"{self.seed}\0{text_key(text)}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        if u < self.fractions["test"]:
            return "test"
        return "dev" if u < self.fractions["test"] + self.fractions["dev"] else "train"

    def pick(self, items: Sequence[T], key: Callable[[T], str], counts: dict[str, int],
             rng: np.random.Generator) -> dict[str, list[T]]:
        """Up to ``counts[split]`` items of each split, drawn at random from ``items`` (in a fixed order)."""
        parts: dict[str, list[T]] = {s: [] for s in SPLITS}
        for item in items:
            parts[self.split_of(key(item))].append(item)
        return {s: [part[i] for i in rng.permutation(len(part))[:counts[s]]] for s, part in parts.items()}


def deal(items: Sequence[T], fractions: dict[str, float], rng: np.random.Generator) -> dict[str, list[T]]:
    """Share ``items`` out by quota: dev and test get at least one each once there are three items;
    with fewer, all go to train."""
    order = [items[i] for i in rng.permutation(len(items))]
    if len(order) < 3:
        return {"train": order, "dev": [], "test": []}
    dev, test = (max(1, round(len(order) * fractions[s])) for s in ("dev", "test"))
    return {"train": order[test + dev:], "dev": order[test:test + dev], "test": order[:test]}
