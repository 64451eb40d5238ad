"""Render every wav file of the corpus, in parallel. Specs are pure, so the order in which workers
finish cannot change a byte."""
from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from laura_plugins.preparers.mini.audio import Renderable, write_wav
from laura_plugins.preparers.mini.cuts import Wav


def render_all(wavs: Iterable[Wav], root: Path, workers: int) -> dict[str, int]:
    """Write each distinct wav under ``root``; return its length in samples by path."""
    jobs: dict[str, Wav] = {}
    for wav in wavs:
        if jobs.setdefault(wav.path, wav) != wav:
            raise ValueError(f"two different sounds are meant for {wav.path}")
    tasks = [(str(root / path), wav.source) for path, wav in sorted(jobs.items())]
    progress = dict(total=len(tasks), desc="mini corpus: audio", unit="file", disable=None)
    if workers == 1:
        lengths = [_render(t) for t in tqdm(tasks, **progress)]
    else:
        # spawn: the parent may hold threads (torch) that a forked child must not inherit
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            lengths = list(tqdm(pool.imap(_render, tasks, chunksize=16), **progress))
    return dict(zip(sorted(jobs), lengths, strict=True))


def _render(task: tuple[str, Renderable]) -> int:
    path, source = task
    return write_wav(Path(path), source.render())
