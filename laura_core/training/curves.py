"""Learning curves of a training run, from its ``log.jsonl``: per-task training loss (lines) and
validation loss (points), and each task's primary metric on decoded dev items (WER, BLEU, accuracy,
CIDEr-D, ...), against step and against wall time, as one PNG, so a reader sees at a glance which
task learnt and how fast.

    laura curves exp/mini/lm            # -> exp/mini/lm/curves.png
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from laura_core.errors import DataError
from laura_core.io import atomic_write_bytes
from laura_core.training.log import read_train_log

if TYPE_CHECKING:
    from laura_core.registry import Registry


def task_metric(task_name: str, keys: set[str], registry: "Registry") -> tuple[str, float] | None:
    """A task's primary metric when the log has it, and the factor that brings it to about a fraction
    (BLEU and chrF are 0-100); None where the log has none."""
    if task_name not in registry.tasks():
        return None
    metric = registry.task(task_name).primary
    if f"{task_name}/{metric.name}" not in keys:
        return None
    return metric.name, 0.01 if metric.scale == "0-100" else 1.0


def plot_curves(exp_dir: str | Path, out: str | Path | None = None, registry: "Registry | None" = None) -> Path:
    """Write the curves of ``exp_dir/log.jsonl`` to ``out`` (default ``exp_dir/curves.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from laura_core.registry import get_registry

    registry = registry or get_registry()
    exp_dir = Path(exp_dir)
    records = read_train_log(exp_dir / "log.jsonl")
    train = [r for r in records if r.get("split") == "train"]
    valid = [r for r in records if r.get("split") == "valid"]
    if not train and not valid:
        raise DataError(f"{exp_dir / 'log.jsonl'}: no training or validation records to plot")
    keys = set().union(*valid) if valid else set()
    tasks = sorted({k.split("/")[0] for r in train + valid for k in r if k.endswith("/loss")})
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex="col")
    colors = {task: f"C{i % 10}" for i, task in enumerate(tasks)}
    for task in tasks:
        metric = task_metric(task, keys, registry)
        for col, x_key, scale in ((0, "step", 1.0), (1, "elapsed_s", 1 / 60)):
            rows = [r for r in train if f"{task}/loss" in r and x_key in r]
            axes[0, col].plot([r[x_key] * scale for r in rows], [r[f"{task}/loss"] for r in rows], color=colors[task],
                              alpha=0.6, label=task)
            rows = [r for r in valid if f"{task}/loss" in r and x_key in r]
            axes[0, col].plot([r[x_key] * scale for r in rows], [r[f"{task}/loss"] for r in rows], marker="o",
                              linestyle="--", color=colors[task])
            if metric is not None:
                name, factor = metric
                rows = [r for r in valid if r.get(f"{task}/{name}") is not None and x_key in r]
                label = f"{task} {name}" + (" / 100" if factor != 1.0 else "")
                axes[1, col].plot([r[x_key] * scale for r in rows], [r[f"{task}/{name}"] * factor for r in rows],
                                  marker="o", color=colors[task], label=label)
    axes[0, 0].set_ylabel("loss per token: training (lines), validation (points)")
    axes[1, 0].set_ylabel("task metric on decoded dev items")
    axes[1, 0].set_xlabel("step")
    axes[1, 1].set_xlabel("wall time (minutes)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=8, loc="upper right")
    axes[1, 1].legend(fontsize=8, loc="best")
    fig.suptitle(f"{exp_dir}: learning curves")
    fig.tight_layout()
    out = Path(out) if out is not None else exp_dir / "curves.png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return atomic_write_bytes(out, buffer.getvalue())
