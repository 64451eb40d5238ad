"""Training checkpoints: self-checking directories that appear whole or not at all.

    EXP/checkpoints/step_<N>/
        model.safetensors, config.yaml, layout.json, tokenizer.json   the kind's files (lm: a loadable model)
        trainer.pt      step, optimizer, data position, RNG states: plain tensors and containers only
        train.yaml      the resolved training config
        manifest.json   step and the sha256 of every other file; written last
    EXP/checkpoints/best.json   the validation metric of each checkpoint saved at a validation step

A checkpoint is assembled in a hidden temporary directory and renamed into place, so a killed run
leaves either a complete checkpoint or a temporary directory that is ignored. Loading verifies
every hash first: a truncated or altered file is a ``DataError`` naming it, and nothing is loaded.

Pruning keeps the newest ``keep_last`` checkpoints and the ``keep_best`` best ranked in best.json
(their union; keep_last 0 = keep everything). ``average_checkpoints`` writes the mean weights of
the last or best N checkpoints as a model directory (``laura average``).
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import random
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from laura_core.errors import ConfigError, DataError, LauraError, LayoutMismatchError
from laura_core.io import MANIFEST, UMASK, verify_checkpoint, write_json, write_manifest

if TYPE_CHECKING:
    from laura_core.registry import Registry

log = logging.getLogger(__name__)

STATE, TRAIN_CONFIG, BEST = "trainer.pt", "train.yaml", "best.json"
MODES = ("min", "max")
_NAME = re.compile(r"step_(\d+)")


@dataclass(frozen=True)
class Score:
    """A checkpoint's validation result: ``metric`` (e.g. ``valid/loss``) is ``value``; ``mode`` min or max."""

    metric: str
    mode: str
    value: float


def save_checkpoint(root: Path, step: int, write: Callable[[Path], None], keep_last: int = 0,
                    keep_best: int = 0, score: Score | None = None) -> Path:
    """Write checkpoint ``root/step_<step>`` (``write`` fills a directory with its files), record its
    ``score`` in best.json, then prune: keep the newest ``keep_last`` (0 = all) and the ``keep_best`` best."""
    final = root / f"step_{step:08d}"
    tmp = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".step_{step:08d}."))
        tmp.chmod(0o777 & ~UMASK)  # mkdtemp's 0700 would hide checkpoints from the rest of a group
        write(tmp)
        write_manifest(tmp, step)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        # A full disk or a read-only folder: torch.save says so as a RuntimeError of its zip writer.
        if isinstance(e, OSError) or (isinstance(e, RuntimeError) and "write" in str(e).lower()):
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[-1]
            raise LauraError(f"{root}: cannot write the checkpoint of step {step} ({reason}): free space or fix "
                             f"the folder's permissions, then resume; earlier checkpoints are untouched") from None
        raise
    if score is not None:
        record_best(root, step, score)
    prune_checkpoints(root, keep_last, keep_best)
    return final


def release_checkpoint(src: str | Path, dst: str | Path, dtype: torch.dtype | None = None,
                       part: str | None = None) -> Path:
    """Copy checkpoint ``src`` without its trainer state (optimizer, data position) to ``dst``, a model
    to ship with a recipe: verified first, with a manifest of its own, written atomically. The same
    checkpoint always gives the same bytes. With ``dtype`` (e.g. float16: half the size) the floating
    weights of its safetensors files are cast to it; loading casts them back to the model's own.

    With ``part`` (an LM's ``backbone`` or ``encoder``) only that part's weights are kept, as
    ``<part>.safetensors`` (its own state dict) beside the layout and tokenizer they were trained with:
    what another run's ``init.<part>`` starts from (a pretrained GPT), not a model to decode with."""
    from laura_core.model.lauragpt import MODEL_FILE

    src, dst = Path(src), Path(dst)
    manifest = verify_checkpoint(src)
    if part is not None and MODEL_FILE not in manifest["files"]:
        raise ConfigError(f"{src}: --part {part} takes a part of a LauraGPT checkpoint; this one has no {MODEL_FILE}")
    if dst.exists():
        raise ConfigError(f"{dst} exists: remove it first, or release to another folder")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}."))
    try:
        tmp.chmod(0o777 & ~UMASK)
        for name in manifest["files"]:
            if name == STATE:
                continue
            if part is not None and name == MODEL_FILE:
                name = f"{part}.safetensors"
                _save_weights(src / MODEL_FILE, tmp / name, dtype, part)
            elif dtype is not None and name.endswith(".safetensors"):
                _save_weights(src / name, tmp / name, dtype)
            else:
                shutil.copyfile(src / name, tmp / name)
            (tmp / name).chmod(0o666 & ~UMASK)
        write_manifest(tmp, manifest.get("step"))
        os.rename(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def _save_weights(src: Path, dst: Path, dtype: torch.dtype | None, part: str | None = None) -> None:
    """``src``'s weights to ``dst``: only ``part``'s (its own state dict) if given, floats cast to ``dtype`` if given."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(src))
    if part is not None:
        prefix = f"{part}."
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise ConfigError(f"{src}: no weights of a part named {part!r} (parts: backbone, encoder)")
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(dst))


def read_best(root: Path) -> dict[str, Any] | None:
    """best.json: ``{"metric", "mode", "entries": [{"step", "value"}, ...]}``, best first; None if absent."""
    path = root / BEST
    if not path.is_file():
        return None
    try:
        best = json.loads(path.read_text())
        entries = [{"step": int(e["step"]), "value": float(e["value"])} for e in best["entries"]]
        if best["mode"] not in MODES:
            raise ValueError(f"mode {best['mode']!r}")
        return {"metric": str(best["metric"]), "mode": best["mode"], "entries": entries}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: malformed ({e})") from None


def check_best(root: Path, metric: str, mode: str) -> None:
    """Refuse to rank by ``metric``/``mode`` when best.json already ranks by something else."""
    best = read_best(root)
    if best is not None and (best["metric"], best["mode"]) != (metric, mode):
        raise ConfigError(f"{root / BEST} ranks checkpoints by {best['metric']} ({best['mode']}), not {metric} "
                          f"({mode}): keep best_metric/best_mode as they were or use another exp_dir")


def record_best(root: Path, step: int, score: Score) -> None:
    """Add (or replace) the checkpoint of ``step`` in best.json, written atomically."""
    check_best(root, score.metric, score.mode)
    best = read_best(root)
    entries = [e for e in (best["entries"] if best else []) if e["step"] != step]
    entries.append({"step": step, "value": float(score.value)})
    write_json(root / BEST, {"metric": score.metric, "mode": score.mode, "entries": _ranked(entries, score.mode)})


def best_checkpoints(root: Path) -> list[Path]:
    """The checkpoints in best.json that exist, best first (ties: the newer first)."""
    best = read_best(root)
    if best is None:
        return []
    return [root / f"step_{e['step']:08d}" for e in best["entries"] if (root / f"step_{e['step']:08d}").is_dir()]


def prune_checkpoints(root: Path, keep_last: int, keep_best: int = 0) -> list[Path]:
    """Delete every complete checkpoint that is neither among the newest ``keep_last`` complete ones nor
    the best ``keep_best`` (keep_last 0 = delete nothing); best.json forgets the deleted ones. Broken
    checkpoints are neither counted nor deleted (a later save of their step replaces them), so the
    newest good one always stays. Returns the deleted directories."""
    if keep_last <= 0:
        return []
    complete = [d for d in list_checkpoints(root) if is_complete(d)]
    keep = set(complete[-keep_last:])
    if keep_best > 0:
        keep |= set(best_checkpoints(root)[:keep_best])
    deleted = [old for old in complete if old not in keep]
    for old in deleted:
        shutil.rmtree(old)
    best = read_best(root)
    if deleted and best is not None:
        gone = {int(_NAME.fullmatch(d.name).group(1)) for d in deleted}
        best["entries"] = [e for e in best["entries"] if e["step"] not in gone]
        write_json(root / BEST, best)
    return deleted


def _ranked(entries: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    sign = 1.0 if mode == "min" else -1.0
    return sorted(entries, key=lambda e: (sign * e["value"], -e["step"]))


def is_complete(directory: Path) -> bool:
    """Whether a checkpoint has its manifest and every file at its recorded size: the cheap check that
    pruning uses (loading hashes every file). Manifests without sizes are hashed."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        sizes = manifest.get("sizes")
        if sizes is None:
            verify_checkpoint(directory)
            return True
        return set(sizes) == set(manifest["files"]) and all(
            (directory / name).is_file() and (directory / name).stat().st_size == size for name, size in sizes.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, DataError):
        return False


def remove_temporary(root: Path) -> list[Path]:
    """Remove the temporary folders of checkpoints whose writing was interrupted (``.step_*``)."""
    found = sorted(root.glob(".step_*")) if root.is_dir() else []
    for tmp in found:
        shutil.rmtree(tmp, ignore_errors=True)
    return found


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
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # its message suggests unpickling code, which laura never does
        raise DataError(f"{path}: not a training state laura loads: it holds objects other than tensors and "
                        f"plain containers") from None
    except Exception as e:  # a damaged file: torch raises RuntimeError, EOFError and others
        raise DataError(f"{path}: damaged ({type(e).__name__}: {str(e).strip()[:200]})") from None


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


def average_checkpoints(exp_dir: Path, out_dir: Path, registry: "Registry", last: int | None = None,
                        best: int | None = None) -> list[Path]:
    """Average the model weights of the newest ``last`` (or the ``best`` best) checkpoints of ``exp_dir``
    into ``out_dir``, a model directory ``load_model`` reads; returns the averaged checkpoints, oldest first.

    Every checkpoint is verified first and all must share one layout and one set of weight names,
    shapes and dtypes. Floating-point tensors are averaged (in float64, stored in their dtype);
    integer buffers are copied from the newest checkpoint, whose resolved config the model keeps."""
    from safetensors.torch import load_file

    from laura_core.config import load_config
    from laura_core.model.lauragpt import CONFIG_FILE, LAYOUT_FILE, MODEL_FILE, ModelConfig, build_model, save_model
    from laura_core.model.vocab import VocabLayout

    if (last is None) == (best is None):
        raise ConfigError("average needs one of last=N or best=N")
    n = last if last is not None else best
    if n < 1:
        raise ConfigError(f"the number of checkpoints to average must be at least 1, got {n}")
    root = Path(exp_dir) / "checkpoints"
    if last is not None:
        found, what = list_checkpoints(root), "checkpoints"
        chosen = found[-n:]
    else:
        found, what = best_checkpoints(root), f"checkpoints ranked in {root / BEST}"
        chosen = found[:n]
    if len(chosen) < n:
        raise DataError(f"{root}: {n} checkpoints to average, but only {len(found)} {what}")
    chosen = sorted(chosen, key=lambda d: int(_NAME.fullmatch(d.name).group(1)))
    for directory in chosen:
        verify_checkpoint(directory)  # a corrupt one is refused, naming the file
    newest = chosen[-1]
    layout = VocabLayout.from_dict(json.loads((newest / LAYOUT_FILE).read_text()))
    states = []
    for directory in chosen:
        if directory != newest:
            layout.check_same(VocabLayout.from_dict(json.loads((directory / LAYOUT_FILE).read_text())),
                              str(directory / LAYOUT_FILE))
        states.append(load_file(str(directory / MODEL_FILE)))
    reference = states[-1]
    for directory, state in zip(chosen, states):
        if state.keys() != reference.keys():
            odd = sorted(state.keys() ^ reference.keys())[:3]
            raise LayoutMismatchError(f"{directory / MODEL_FILE}: weights {odd} are in only one of it and "
                                      f"{newest / MODEL_FILE}")
        for key, value in state.items():
            if value.shape != reference[key].shape or value.dtype != reference[key].dtype:
                raise LayoutMismatchError(f"{directory / MODEL_FILE}: {key} is {value.dtype} {tuple(value.shape)}, "
                                          f"{newest / MODEL_FILE} has {reference[key].dtype} "
                                          f"{tuple(reference[key].shape)}")
    averaged = {}
    for key, value in reference.items():
        if value.is_floating_point():
            total = sum(state[key].to(torch.float64) for state in states)
            averaged[key] = (total / len(states)).to(value.dtype)
        else:
            averaged[key] = value.clone()
    cfg = load_config(ModelConfig, newest / CONFIG_FILE)
    with torch.device("meta"):  # only its config and layout are written: no memory, no pretrained weights
        model = build_model(cfg, registry, layout=layout)
    save_model(model, cfg, out_dir, averaged)
    for extra in ("tokenizer.json", "codec.json", TRAIN_CONFIG):  # what inference needs beside the weights
        if (newest / extra).is_file():
            shutil.copyfile(newest / extra, Path(out_dir) / extra)
    write_json(Path(out_dir) / "averaged.json", {"checkpoints": [str(d) for d in chosen],
                                                  "by": "last" if last is not None else "best"})
    write_manifest(Path(out_dir))  # so that loading the average verifies it as it does a checkpoint
    return chosen

