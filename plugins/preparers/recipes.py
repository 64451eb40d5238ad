"""lhotse recipes as laura preparers: a recipe's recordings and supervisions become our cuts, and
every record the recipe dropped (it only logs them) is left out on the record instead."""
from __future__ import annotations

from typing import Callable

from lhotse import RecordingSet, SupervisionSegment, SupervisionSet

from laura_plugins.preparers.cuts import audio_cut
from laura_plugins.preparers.output import Manifests
from laura_plugins.preparers.sources import Where


def add_recipe_part(
    out: Manifests, task: str, split: str, manifests: dict[str, RecordingSet | SupervisionSet],
    expected: dict[str, Where], language: str, dropped: str,
    text: Callable[[SupervisionSegment], str] = lambda s: s.text,
) -> None:
    """Add one part of a recipe's output to ``split``: a cut per supervision. ``expected`` holds
    every record the corpus lists for the part (id -> where); those the recipe left out are
    reported with the reason ``dropped``, and so are records with an empty text."""
    recordings, supervisions = manifests["recordings"], manifests["supervisions"]
    for sup in supervisions:
        where = expected[sup.id]
        if not (text(sup) or "").strip():
            out.skip(task, split, where, "empty transcript")
            continue
        out.add(task, split, audio_cut(recordings[sup.recording_id], text(sup), language, sup.speaker), where)
    kept = {sup.id for sup in supervisions}
    for id, where in expected.items():
        if id not in kept:
            out.skip(task, split, where, dropped)
