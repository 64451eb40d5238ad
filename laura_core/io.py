"""File I/O shared by every command: atomic writes, JSONL with errors that say where, and directories
that check themselves (``manifest.json``: the sha256 of every file, written last, verified on every load
of a checkpoint, an averaged model, a codec or a vocoder)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from laura_core.errors import DataError


UMASK = os.umask(0)
os.umask(UMASK)  # read once: the process's umask, which plain open() honours


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp's 0600 would hide outputs from the rest of a group
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


MANIFEST = "manifest.json"


def write_manifest(directory: Path, step: int | None = None) -> None:
    """``manifest.json``: the sha256 and size of every file of ``directory``, written last."""
    files = sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name != MANIFEST)
    write_json(directory / MANIFEST, {"step": step, "files": {name: sha256_file(directory / name) for name in files},
                                      "sizes": {name: (directory / name).stat().st_size for name in files}})


def verify_checkpoint(directory: Path) -> dict[str, Any]:
    """The manifest of a checkpoint (or any directory with one) whose every file is present and matches its hash."""
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
        if sha256_file(file) != digest:
            raise DataError(f"{file}: corrupt or truncated (sha256 differs from {MANIFEST}); not loading it")
    return manifest


def verify_if_saved_by_laura(path: str | Path) -> None:
    """Verify the checkpoint or model directory ``path`` is (or holds the file ``path``) when it has a
    manifest: every load of laura's own outputs is checked. Other weights (a Hugging Face folder, a
    file from elsewhere) have no manifest and are taken as they are."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    if (directory / MANIFEST).is_file():
        verify_checkpoint(directory)


def write_json(path: str | Path, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, records: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)``; blank lines are skipped, anything else malformed is a ``DataError``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1})") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            yield lineno, record


def read_partial_jsonl(path: str | Path) -> dict[str, dict]:
    """``{id: record}`` of the JSONL file an interrupted job appends to, one record per finished item.
    A last line cut short by the interruption is dropped (and the file rewritten without it, so the
    next append starts on a new line); a malformed line elsewhere is a ``DataError``."""
    path = Path(path)
    done: dict[str, dict] = {}
    if not path.is_file():
        return done
    lines = path.read_text(encoding="utf-8").split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(lines):  # torn by the interruption: redo its item
                break
            raise DataError(f"{path}:{lineno}: malformed line (only the last line may be torn)") from None
        done[record["id"]] = record
    if lines and lines[-1].strip():  # rewrite without the torn tail, so appends start on a new line
        write_jsonl(path, done.values())
    return done
