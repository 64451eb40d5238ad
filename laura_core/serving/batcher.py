"""Concurrent requests -> batched model calls, on one worker thread that owns the model.

A request waits in a queue; the worker takes the oldest, gathers the requests that may share its
batch (same task, decoding options and seed; distinct ids) for up to ``wait`` seconds, and runs them
as one ``Model.run``. Every item is seeded by its id and batched by duration as in ``laura infer``, so
its output does not depend on its neighbours. When a batch fails, its requests run one by one, so a
bad input fails its own request only.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from laura_core.api import Model

log = logging.getLogger(__name__)


class Busy(Exception):
    """The queue is full: the caller should retry later."""


@dataclass
class Job:
    task: str
    input: Any
    id: str
    prompt: Any = None
    options: dict = field(default_factory=dict)
    seed: int | None = None
    future: Future = field(default_factory=Future)

    def key(self) -> tuple:
        return self.task, tuple(sorted(self.options.items())), self.seed


class Batcher:
    def __init__(self, model: "Model", max_batch: int = 8, wait: float = 0.02, max_queue: int = 64):
        self.model, self.max_batch, self.wait = model, max_batch, wait
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=max_queue)
        self.held: list[Job] = []  # taken from the queue but not yet in a batch (another key)
        self.batches = 0  # model calls made (for /health and the tests)
        self.thread = threading.Thread(target=self._work, name="laura-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Future:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise Busy(f"{self.jobs.maxsize} requests are waiting; try again shortly") from None
        return job.future

    @property
    def waiting(self) -> int:
        return self.jobs.qsize() + len(self.held)

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=30)

    def _work(self) -> None:
        while True:
            first = self.held.pop(0) if self.held else self.jobs.get()
            if first is None:
                return
            batch = self._gather(first)
            self._run(batch)

    def _gather(self, first: Job) -> list[Job]:
        batch, ids, deadline = [first], {first.id}, time.monotonic() + self.wait
        keep: list[Job] = []
        for job in self.held:  # those that waited already come first
            if len(batch) < self.max_batch and job.key() == first.key() and job.id not in ids:
                batch.append(job)
                ids.add(job.id)
            else:
                keep.append(job)
        self.held = keep
        while len(batch) < self.max_batch:
            try:
                job = self.jobs.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                self.jobs.put(None)  # close after this batch
                break
            if job.key() == first.key() and job.id not in ids:
                batch.append(job)
                ids.add(job.id)
            else:
                self.held.append(job)
        return batch

    def _run(self, batch: list[Job]) -> None:
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        first = live[0]
        try:
            results = self.model.run(first.task, [job.input for job in live], ids=[job.id for job in live],
                                     prompt=[job.prompt for job in live], seed=first.seed, **first.options)
            self.batches += 1
            for job, result in zip(live, results):
                job.future.set_result(result)
            return
        except Exception as e:
            if len(live) == 1:
                live[0].future.set_exception(e)
                return
            log.info("a batch of %d failed (%s); running its requests one by one", len(live), e)
        for job in live:
            try:
                result = self.model.run(job.task, [job.input], ids=[job.id], prompt=[job.prompt], seed=job.seed,
                                        **job.options)[0]
                self.batches += 1
                job.future.set_result(result)
            except Exception as e:  # reported to its own request
                job.future.set_exception(e)
