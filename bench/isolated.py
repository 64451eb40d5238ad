"""Run one measurement in a fresh process, so its peak memory (max RSS) belongs to it alone."""
from __future__ import annotations

import multiprocessing as mp
from typing import Callable


def run_isolated(target: Callable, *args) -> dict:
    """``target(*args, queue)`` in a spawned process; returns what it put on ``queue``."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result
