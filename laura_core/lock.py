"""One writer per output: an exclusive lock on an experiment folder, an output folder or an output file.

``FOLDER/.laura.lock`` (``.NAME.lock`` beside an output file NAME) is held with ``flock`` for as long as the command runs, and holds who took it
(command, pid, host, start time). The kernel releases a flock when its process dies however it dies,
so a lock file left by a killed run is free to take: the next command says whose it was and goes on.
A lock that is held is refused with its holder, so two runs never write one folder.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from laura_core.errors import ConfigError

LOCK_FILE = ".laura.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return (f"{info['command']} (pid {info['pid']} on {info['host']}, started "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['started']))})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (no holder recorded)"


@contextlib.contextmanager
def output_lock(target: str | Path, command: str, is_file: bool = False) -> Iterator[Path]:
    """Hold the lock of output folder ``target`` (created), or of output file ``target`` with ``is_file``,
    while the block runs; a held lock is a ``ConfigError`` naming the holder."""
    target = Path(target)
    folder = target.parent if is_file else target
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f".{target.name}.lock" if is_file else LOCK_FILE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"{folder}: cannot write here ({e.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{target} is in use by {_holder(path)}: wait for it to finish, stop it, or "
                              f"use another folder") from None
        except OSError as e:  # a file system without locks (some network mounts): go on, and say so
            print(f"laura: warning: {folder} cannot be locked ({e.strerror}); make sure no other run writes "
                  f"{target}", file=sys.stderr)
        previous = os.read(fd, 4096)
        if previous.strip():  # written by a process that ended without removing it (killed)
            print(f"laura: taking over the lock of {target} left by {_holder(path)}, which is no longer running",
                  file=sys.stderr)
        info = {"command": command, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # a clean exit leaves an empty (free, unowned) lock file
    finally:
        os.close(fd)  # releases the flock
