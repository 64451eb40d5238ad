"""Training checkpoints: self-checking directories that appear whole or not at all.

    EXP/checkpoints/step_<N>/
        model.safetensors, config.yaml, layout.json, tokenizer.json   the kind's files (lm: a loadable model)
        trainer.pt      step, optimizer, data position, RNG states: plain tensors and containers only
        train.yaml      the resolved training config
        manifest.json   step and the sha256 of every other file; written last

A checkpoint is assembled in a hidden temporary directory and renamed into place, so a killed run
leaves either a complete checkpoint or a temporary directory that is ignored. Loading verifies
every hash first: a truncated or altered file is a ``DataError`` naming it, and nothing is loaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from laura_core.errors import DataError
from laura_core.io import write_json

log = logging.getLogger(__name__)

MANIFEST, STATE, TRAIN_CONFIG = "manifest.json", "trainer.pt", "train.yaml"
_NAME = re.compile(r"step_(\d+)")


def save_checkpoint(root: Path, step: int, write: Callable[[Path], None], keep_last: int = 0) -> Path:
    """Write checkpoint ``root/step_<step>`` (``write`` fills a directory with its files), then keep only
    the newest ``keep_last`` checkpoints (0 = all)."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".step_{step:08d}."))
    try:
        write(tmp)
        files = sorted(p.name for p in tmp.iterdir() if p.is_file() and not p.name.startswith("."))
        write_json(tmp / MANIFEST, {"step": step, "files": {name: _sha256(tmp / name) for name in files}})
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep_last > 0:
        for old in list_checkpoints(root)[:-keep_last]:
            shutil.rmtree(old)
    return final


def verify_checkpoint(directory: Path) -> dict[str, Any]:
    """The manifest of a checkpoint whose every file is present and matches its hash."""
    path = directory / MANIFEST
    if not path.is_file():
        raise DataError(f"{directory}: incomplete checkpoint (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"{path}: malformed checkpoint manifest ({e})") from None
    for name, digest in files.items():
        file = directory / name
        if not file.is_file():
            raise DataError(f"{file}: missing from the checkpoint")
        if _sha256(file) != digest:
            raise DataError(f"{file}: corrupt or truncated (sha256 differs from {MANIFEST}); not loading it")
    return manifest


def list_checkpoints(root: Path) -> list[Path]:
    """Complete-looking checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: Path) -> Path | None:
    """The newest checkpoint that verifies; newer broken ones are skipped with a warning."""
    for directory in reversed(list_checkpoints(root)):
        try:
            verify_checkpoint(directory)
            return directory
        except DataError as e:
            log.warning("skipping checkpoint: %s", e)
    return None


def save_state(path: Path, state: dict[str, Any]) -> None:
    torch.save(state, path)


def load_state(path: Path) -> dict[str, Any]:
    # weights_only: a checkpoint is data, never code to unpickle.
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch generator states as tensors and plain containers."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {**np_state, "state": {**np_state["state"], "key": torch.from_numpy(np_state["state"]["key"].copy())}},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({**np_state, "state": {**np_state["state"], "key": np_state["state"]["key"].numpy()}})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
