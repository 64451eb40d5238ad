"""What a preparer writes: ``dst/<task>/<split>.jsonl.gz`` (lhotse CutSets) and, beside them,
``dst/<task>/prepare_report.json``: the cuts and audio seconds of each split and every record left out,
with where it is and why. Records are left out only when legitimately unusable (an empty transcript,
a label outside the chosen set); anything malformed is a ``DataError`` instead."""
from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

from lhotse import Recording
from lhotse.cut import Cut

from laura_core.data.prompts import pair_prompts
from laura_core.errors import DataError
from laura_core.io import atomic_write_bytes, write_json
from laura_core.manifest import SPLITS
from laura_plugins.preparers.sources import Where

log = logging.getLogger(__name__)

REPORT = "prepare_report.json"


class Manifests:
    """The cuts of one corpus for each of its ``tasks``, by split, each with where its record came
    from, and the records left out. ``write`` checks and writes them all."""

    def __init__(self, corpus: str, src: Path, *tasks: str):
        self.corpus, self.src = corpus, src
        self._cuts: dict[str, dict[str, list[tuple[Cut, Where]]]] = {task: {} for task in tasks}
        self._skipped: dict[str, list[dict[str, str]]] = {task: [] for task in tasks}

    def add(self, task: str, split: str, cut: Cut, where: Where) -> None:
        self._cuts[task].setdefault(split, []).append((cut, where))

    def skip(self, task: str, split: str, where: Where, reason: str) -> None:
        self._skipped[task].append({"split": split, "where": str(where), "reason": reason})

    def write(self, dst: Path, prompted: dict[str, Sequence[str]] | None = None) -> dict[str, dict[str, Path]]:
        """Write every task's splits, each sorted by cut id so that a re-run writes the same bytes.
        ``prompted``: task -> the splits whose cuts get a fixed voice prompt (``pair_prompts``)."""
        for task in self._cuts:
            self._check(task)
        written = {}
        for task, splits in self._cuts.items():
            folder = Path(dst) / task
            written[task] = {}
            for split, cuts in sorted(splits.items(), key=lambda kv: split_order(kv[0])):
                ordered = sorted((c for c, _ in cuts), key=lambda c: c.id)
                if split in (prompted or {}).get(task, ()):
                    ordered = pair_prompts(ordered)
                written[task][split] = write_cuts(folder / f"{split}.jsonl.gz", ordered)
            write_json(folder / REPORT, self._report(task))
            if self._skipped[task]:
                log.warning("%s %s: left out %d record(s), listed in %s", self.corpus, task,
                            len(self._skipped[task]), folder / REPORT)
        return written

    def _check(self, task: str) -> None:
        splits = self._cuts[task]
        for split in SPLITS:
            if not splits.get(split):
                left_out = Counter(s["reason"] for s in self._skipped[task] if s["split"] == split)
                why = f" ({sum(left_out.values())} left out: {', '.join(left_out)})" if left_out else ""
                raise DataError(f"{self.corpus} in {self.src}: no usable {task} records for split {split!r}{why}")
        seen_cuts: dict[str, Where] = {}
        seen_recordings: dict[str, Where] = {}
        for cuts in splits.values():
            for cut, where in cuts:
                for seen, id in [(seen_cuts, cut.id), *((seen_recordings, r.id) for r in recordings(cut))]:
                    if id in seen:
                        raise DataError(f"{where}: {task} id {id!r} is already used by {seen[id]}")
                    seen[id] = where

    def _report(self, task: str) -> dict:
        skipped = self._skipped[task]
        return {
            "corpus": self.corpus,
            "source": str(self.src),
            "task": task,
            "splits": {
                split: {"cuts": len(cuts), "audio_seconds": round(sum(c.duration for c, _ in cuts if c.has_recording), 3)}
                for split, cuts in sorted(self._cuts[task].items(), key=lambda kv: split_order(kv[0]))
            },
            "skipped": len(skipped),
            "skipped_by_reason": dict(Counter(s["reason"] for s in skipped).most_common()),
            "skipped_records": skipped,
        }


def split_order(split: str) -> tuple[int, str]:
    """The standard splits first, then the corpus's own, by name."""
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), split)


def recordings(cut: Cut) -> Iterator[Recording]:
    if cut.has_recording:
        yield cut.recording
    yield from (v for v in (cut.custom or {}).values() if isinstance(v, Recording))


def write_cuts(path: Path, cuts: list[Cut]) -> Path:
    """A CutSet file as lhotse writes it, atomically and with a fixed gzip timestamp."""
    lines = "".join(json.dumps(cut.to_dict(), ensure_ascii=False) + "\n" for cut in cuts)
    return atomic_write_bytes(path, gzip.compress(lines.encode("utf-8"), mtime=0))
