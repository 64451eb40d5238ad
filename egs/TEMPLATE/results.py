#!/usr/bin/env python
"""A recipe's RESULTS.md: its test scores, the command that made them, the training config's hash,
the corpus, the machine and the wall time.

usage: results.py RESULTS_JSON --out RESULTS.md --recipe NAME --corpus WHAT --conf YAML --minutes M --command CMD
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from laura_core.io import atomic_write_text


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = f"{cores} cores of {cpu}"
    try:
        import torch

        if torch.cuda.is_available():
            out += f"; {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return out


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    for name in ("out", "recipe", "corpus", "conf", "command"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--minutes", type=float, required=True)
    args = parser.parse_args()
    reports = json.loads(args.results.read_text())
    lines = [f"# {args.recipe}: results", "",
             "| test set | metric | score |", "|---|---|---:|"]
    for folder, report in sorted(reports.items()):
        for metric, value in report["metrics"].items():
            lines.append(f"| {folder} | {metric} | {fmt(value)} |")
    conf_hash = hashlib.sha256(Path(args.conf).read_bytes()).hexdigest()[:16]
    lines += ["", "| | |", "|---|---|",
              f"| command | `{args.command}` |",
              f"| config | `{args.conf}` (sha256 {conf_hash}) |",
              f"| corpus | {args.corpus} |",
              f"| hardware | {hardware()} |",
              f"| wall time | {args.minutes:.0f} minutes |",
              f"| commit | {commit()} |",
              f"| date | {datetime.now(timezone.utc).strftime('%Y-%m-%d')} |", ""]
    atomic_write_text(args.out, "\n".join(lines))  # a rerun of the stage never leaves half a file


if __name__ == "__main__":
    main()
