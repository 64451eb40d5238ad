"""Where training values go: ``EXP/log.jsonl`` (every value), TensorBoard event files under
``EXP/tensorboard`` (when tensorboard is installed) and the terminal (a tqdm bar, or plain lines
when output is not a terminal)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from laura_core.errors import DataError
from laura_core.model.lauragpt import TaskStats


@dataclass
class Meter:
    """Per-task loss sums, token counts and correct predictions since the last report, and throughput."""

    stats: dict[str, TaskStats] = field(default_factory=dict)
    positions: int = 0
    sums: dict[str, float] = field(default_factory=dict)  # other values, summed over batches
    counts: dict[str, int] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter)

    def add(self, stats: dict[str, TaskStats], positions: int = 0, values: dict[str, float] | None = None,
            counts: dict[str, int] | None = None) -> None:
        """Add a batch's stats and its ``values`` (batch means; ``counts`` says how many batches a
        value already sums, when adding another meter's sums)."""
        for task, s in stats.items():
            mine = self.stats.setdefault(task, TaskStats(has_accuracy=s.has_accuracy))
            mine.loss_sum += s.loss_sum
            mine.tokens += s.tokens
            mine.correct += s.correct
        self.positions += positions
        for key, value in (values or {}).items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + (counts or {}).get(key, 1)

    def values(self) -> dict[str, float]:
        """Overall and per-task (``<task>/loss``, ``<task>/acc``) loss and token accuracy."""
        tokens = sum(s.tokens for s in self.stats.values())
        out = {"loss": sum(s.loss_sum for s in self.stats.values()) / max(tokens, 1)}
        for task, s in sorted(self.stats.items()):
            out[f"{task}/loss"] = s.loss_sum / max(s.tokens, 1)
            if s.has_accuracy:
                out[f"{task}/acc"] = s.correct / max(s.tokens, 1)
        out.update({key: total / self.counts[key] for key, total in sorted(self.sums.items())})
        if self.positions:
            out["tokens_per_s"] = self.positions / (time.perf_counter() - self.start)
        return out


class TrainLog:
    def __init__(self, exp_dir: Path, max_steps: int, step: int):
        """A log that continues at ``step``. The file is only ever appended to: a run that starts again
        (resumed at ``step``, or from 0) first appends a ``resume`` record, and ``read_train_log`` lets the
        records logged after it supersede what an interrupted run had logged past ``step``."""
        self.path = exp_dir / "log.jsonl"
        self.elapsed = 0.0  # training seconds before this run (a resumed run goes on counting)
        if self.path.is_file():
            kept = [r for r in read_train_log(self.path) if r["step"] <= step]
            self.elapsed = max((r.get("elapsed_s", 0.0) for r in kept), default=0.0) if step else 0.0
            with open(self.path, "rb") as f:
                torn = f.seek(0, 2) > 0 and not (f.seek(-1, 2), f.read(1))[1] == b"\n"
            self._append({"step": step, "split": "resume", "elapsed_s": self.elapsed}, newline_first=torn)
        self.start = time.perf_counter()
        self.tensorboard = _summary_writer(exp_dir / "tensorboard", step)
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=max_steps, initial=step, unit="step", dynamic_ncols=True)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def write(self, step: int, split: str, values: dict[str, float]) -> None:
        self._append({"step": step, "split": split,
                      "elapsed_s": round(self.elapsed + time.perf_counter() - self.start, 2), **values})
        if self.tensorboard is not None:
            for key, value in values.items():
                if value is not None:  # an unavailable metric is null in log.jsonl, absent here
                    self.tensorboard.add_scalar(f"{split}/{key}", value, step)
        line = f"{split} step {step}: " + " ".join(f"{k} {_short(v)}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix_str(f"{split} loss {values['loss']:.3f}")
            self.bar.write(line)
        else:
            print(line, flush=True)

    def _append(self, record: dict, newline_first: bool = False) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(("\n" if newline_first else "") + json.dumps(record) + "\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_train_log(path: Path) -> list[dict]:
    """The records of a ``log.jsonl`` as the run now stands: a ``resume`` record at step k drops the
    records before it past step k (an interrupted run's, logged again after the resume). A line torn by
    a kill (the last one, or the one before a resume) is skipped."""
    if not path.is_file():
        raise DataError(f"{path}: no training log here")
    lines = path.read_text(encoding="utf-8").splitlines()
    records: list[dict] = []
    for lineno, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            step = int(record["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            if lineno == len(lines) or '"split": "resume"' in lines[lineno]:  # torn by a kill
                continue
            raise DataError(f"{path}:{lineno}: not a log record ({e})") from None
        if record.get("split") == "resume":
            records = [r for r in records if r["step"] <= step]
        else:
            records.append(record)
    return records


def _summary_writer(directory: Path, step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(directory), purge_step=step)


def _short(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4f}"
