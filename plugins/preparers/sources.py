"""Reading a corpus on disk: folders, files, tables and audio, with errors (``DataError``) that name
the file, the line or record, and the field."""
from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

from laura_core.errors import DataError


@dataclass(frozen=True)
class Where:
    """A place in a corpus: a file, optionally a line in it and the record found there."""

    file: Path
    line: int | None = None
    record: str | None = None

    def of(self, record: str) -> Where:
        return replace(self, record=record)

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line is not None else str(self.file)
        return f"{place}: record {self.record!r}" if self.record is not None else place

    def error(self, field: str, problem: str) -> DataError:
        return DataError(f"{self}: field {field!r}: {problem}")


def corpus_dir(src: Path | None, corpus: str) -> Path:
    if src is None:
        raise DataError(f"{corpus}: the corpus folder SRC is required")
    # Absolute, so the manifests' audio paths hold from any working directory.
    return require_dir(Path(src).resolve(), f"{corpus} corpus")


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: folder not found ({what})")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: file not found ({what})")
    return path


def text_lines(path: Path, what: str) -> list[str]:
    """Every line of a UTF-8 text file, blank ones included; only ``\\n`` ends a line."""
    require_file(path, what)
    try:
        with open(path, encoding="utf-8", newline="\n") as f:
            return [line.rstrip("\r\n") for line in f]
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None


def read_lines(path: Path, what: str) -> Iterator[tuple[Where, str]]:
    """The non-blank lines of a UTF-8 text file, each with where it is."""
    for number, line in enumerate(text_lines(path, what), 1):
        if line.strip():
            yield Where(path, number), line


def read_table(path: Path, columns: Sequence[str], what: str, delimiter: str = ",") -> Iterator[tuple[Where, dict[str, str]]]:
    """Rows of a CSV (quoted fields) or TSV (``delimiter="\\t"``: no quoting, as CoVoST writes them)
    with a header naming at least ``columns``; every row must hold all of them. Values are stripped."""
    require_file(path, what)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter, quoting=quoting)
            missing = [c for c in columns if c not in (reader.fieldnames or ())]
            if missing:
                raise DataError(f"{path}: header lacks column(s) {', '.join(map(repr, missing))}")
            for row in reader:
                where = Where(path, reader.line_num)
                for column in columns:
                    if row[column] is None:
                        raise where.error(column, "missing (the row has too few fields)")
                yield where, {k: v.strip() for k, v in row.items() if isinstance(k, str) and isinstance(v, str)}
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None


def not_utf8(path: Path, e: UnicodeDecodeError) -> DataError:
    return DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})")


def load_clip(folder: Path, file_name: str, where: Where, field: str):
    """The recording of ``folder/file_name`` as a record of its own: its id is the file name without
    the extension, and the ``where`` returned names it."""
    id = Path(file_name).stem
    if not id:
        raise where.error(field, "empty")
    where = where.of(id)
    return load_recording(folder / file_name, id, where, field), where


def load_recording(path: Path, recording_id: str, where: Where, field: str):
    """The lhotse ``Recording`` of the audio file at ``path`` (referenced, not copied)."""
    from lhotse import Recording

    if not path.is_file():
        raise where.error(field, f"audio file {path} not found")
    try:
        return Recording.from_file(path, recording_id=recording_id)
    except Exception as e:  # decoders raise many types for corrupt or unsupported files
        raise where.error(field, f"cannot read audio file {path} ({e})") from None
