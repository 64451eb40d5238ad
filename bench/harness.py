"""Timing that holds on a shared, noisy machine, for every benchmark here.

- Warm-up is never timed: each system runs ``warmup`` times first (lazy builds, allocator growth,
  oneDNN's first-call kernel selection, page faults of fresh weights).
- Systems are alternated: round r runs them in order, round r + 1 in reverse, so drift in the machine
  (another job, thermal state) falls on every system alike, and no system is always first or last.
- Every figure is the median of its rounds, printed with its spread (the interquartile range as a
  share of the median) and the rounds' count.
- The machine is printed beside the results: usable cores, the CPU, and the bandwidth of plain
  streaming reads (``stream_gbps``), which bounds any step that reads all of a model's weights.

``swap=True`` runs the same schedule with the systems' order reversed: the figures must not depend on
which system comes first (``--swap`` in each benchmark; tests check the schedule itself).
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass
class Timing:
    times: list[float] = field(default_factory=list)  # seconds per timed run, in round order

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def spread(self) -> float:
        """Interquartile range over the median (0 for fewer than 4 rounds: min-max then)."""
        if len(self.times) < 4:
            return (max(self.times) - min(self.times)) / self.median if self.times else 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4)
        return (q3 - q1) / self.median

    def __str__(self) -> str:
        return f"{self.median * 1e3:.1f} ms +-{self.spread * 100:.0f}% (n={len(self.times)})"


def schedule(names: list[str], rounds: int, swap: bool = False) -> list[str]:
    """The order of timed runs: forward, backward, forward, ... (``swap``: starting backward)."""
    order = list(reversed(names)) if swap else list(names)
    out: list[str] = []
    for r in range(rounds):
        out += order if r % 2 == 0 else list(reversed(order))
    return out


def alternate(systems: Mapping[str, Callable[[], Any]], rounds: int = 5, warmup: int = 1, swap: bool = False,
              clock: Callable[[], float] = time.perf_counter) -> tuple[dict[str, Timing], dict[str, Any]]:
    """Time each system's call over ``rounds`` alternating rounds after ``warmup`` untimed calls.
    Returns the timings and each system's last output (to compare outputs across systems)."""
    names = list(systems)
    outputs: dict[str, Any] = {}
    for name in schedule(names, 1, swap):
        for _ in range(warmup):
            outputs[name] = systems[name]()
    timings = {name: Timing() for name in names}
    for name in schedule(names, rounds, swap):
        start = clock()
        outputs[name] = systems[name]()
        timings[name].times.append(clock() - start)
    return timings, outputs


def stream_gbps(megabytes: int = 512, repeats: int = 5) -> float:
    """GB/s of plain streaming reads (a sum over a buffer far larger than the caches), best of ``repeats``."""
    import torch

    buffer = torch.ones(megabytes * 2**20 // 4)
    buffer.sum()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        buffer.sum()
        best = min(best, time.perf_counter() - start)
    return buffer.numel() * 4 / best / 1e9


def high_water_mb() -> float:
    """This process's peak RSS in MB. Not getrusage's ru_maxrss: a spawned child inherits its parent's."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "stream_gbps": round(stream_gbps(), 1)}


def describe(info: Mapping[str, Any]) -> str:
    return (f"machine: {info['cpu']}, {info['cores']} cores ({info['torch_threads']} torch threads), "
            f"streaming reads {info['stream_gbps']} GB/s, torch {info['torch']}")
