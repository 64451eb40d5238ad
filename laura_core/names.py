"""Record ids that become file names: safe names, and output paths that stay inside their folder.

An id names a file in several places (``laura infer``'s ``wav/<id>.wav``), so a manifest is data that
could otherwise write anywhere: ``../../x`` would leave the output folder. Ids are checked by
``laura validate`` and again wherever one turns into a path.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path

from laura_core.errors import DataError

MAX_ID_LENGTH = 200  # characters; file names stop at 255 bytes, and a suffix goes after the id


def id_problem(rid: object) -> str | None:
    """Why ``rid`` cannot name a file, or None when it can."""
    if not isinstance(rid, str) or not rid:
        return "must be a non-empty string"
    if len(rid) > MAX_ID_LENGTH:
        return f"is {len(rid)} characters long, more than {MAX_ID_LENGTH}"
    if "/" in rid or "\\" in rid:
        return "holds a path separator (ids name output files: use letters, digits, '-', '_', '.')"
    if rid in (".", "..") or rid.startswith("."):
        return "starts with '.' (a hidden file, or a way out of the output folder)"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in rid):
        return "holds a control character"
    return None


def output_path(folder: str | Path, rid: str, suffix: str) -> Path:
    """``folder/<rid><suffix>``, refused (naming the id) unless it is a safe name that stays in ``folder``."""
    reason = id_problem(rid)
    path = Path(folder) / f"{rid}{suffix}"
    if reason is None and Path(folder).resolve() not in path.resolve().parents:
        reason = "leads outside the output folder"
    if reason:
        raise DataError(f"record {rid!r}, field 'id': {reason}")
    return path
