"""The unified vocabulary layout: text tokens, special tokens, task tokens, codec tokens.

    [0, text_size)                                text tokens (the tokenizer's own ids)
    [text_size, +special_slots)                   special tokens (pad, eos, audio placeholder, ...)
    [.., +task_slots)                             task tokens, one per task
    [.., +codec_size)                             first-group codec tokens

Slots are reserved so that adding a special or a task never moves the codec range. Task ids come
from task names (sorted), never from plugin load order; ``with_tasks`` appends new tasks to free
slots so an existing checkpoint's ids stay put. The layout is saved with every checkpoint and
``check_same`` refuses a mismatch.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Iterable

from laura_core.errors import LayoutMismatchError
from laura_core.task import Modality

PAD, EOS, AUDIO = "<|pad|>", "<|eos|>", "<|audio|>"
SPECIAL_TOKENS = (PAD, EOS, AUDIO)


@dataclass(frozen=True)
class VocabLayout:
    text_size: int
    tasks: tuple[str, ...]
    codec_size: int
    specials: tuple[str, ...] = SPECIAL_TOKENS
    special_slots: int = 16
    task_slots: int = 64

    def __post_init__(self):
        # Lists from JSON or OmegaConf become tuples so layouts compare and hash as values.
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "specials", tuple(self.specials))
        for name in ("text_size", "codec_size", "special_slots", "task_slots"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"VocabLayout.{name} must be a non-negative int, got {getattr(self, name)!r}")
        for what, items, slots in (("tasks", self.tasks, self.task_slots), ("specials", self.specials, self.special_slots)):
            if len(set(items)) != len(items):
                raise ValueError(f"VocabLayout.{what} has duplicates: {list(items)}")
            if len(items) > slots:
                raise ValueError(f"VocabLayout has {len(items)} {what} but only {slots} slots")

    @classmethod
    def create(cls, text_size: int, tasks: Iterable[str], codec_size: int, **slots) -> "VocabLayout":
        return cls(text_size=text_size, tasks=tuple(sorted(set(tasks))), codec_size=codec_size, **slots)

    def with_tasks(self, tasks: Iterable[str]) -> "VocabLayout":
        """This layout plus any new tasks, appended in sorted order; existing ids do not move."""
        new = tuple(sorted(set(tasks) - set(self.tasks)))
        return VocabLayout(self.text_size, self.tasks + new, self.codec_size, self.specials, self.special_slots, self.task_slots)

    # -- ranges -------------------------------------------------------------------------------

    @property
    def special_offset(self) -> int:
        return self.text_size

    @property
    def task_offset(self) -> int:
        return self.special_offset + self.special_slots

    @property
    def codec_offset(self) -> int:
        return self.task_offset + self.task_slots

    @property
    def size(self) -> int:
        return self.codec_offset + self.codec_size

    def special_id(self, token: str) -> int:
        if token not in self.specials:
            raise KeyError(f"unknown special token {token!r}; layout has {list(self.specials)}")
        return self.special_offset + self.specials.index(token)

    @property
    def pad_id(self) -> int:
        return self.special_id(PAD)

    @property
    def eos_id(self) -> int:
        return self.special_id(EOS)

    @property
    def audio_id(self) -> int:
        return self.special_id(AUDIO)

    def task_id(self, task: str) -> int:
        if task not in self.tasks:
            raise KeyError(f"task {task!r} is not in this vocabulary layout (tasks: {', '.join(self.tasks)})")
        return self.task_offset + self.tasks.index(task)

    def codec_id(self, code: int) -> int:
        if not 0 <= code < self.codec_size:
            raise ValueError(f"codec code {code} outside [0, {self.codec_size})")
        return self.codec_offset + code

    def codec_code(self, token_id: int) -> int:
        if not self.codec_offset <= token_id < self.size:
            raise ValueError(f"token id {token_id} is not a codec token")
        return token_id - self.codec_offset

    def kind_of(self, token_id: int) -> str:
        """"text", "special", "task" or "codec"."""
        if not 0 <= token_id < self.size:
            raise ValueError(f"token id {token_id} outside the vocabulary [0, {self.size})")
        if token_id < self.special_offset:
            return "text"
        if token_id < self.task_offset:
            return "special"
        if token_id < self.codec_offset:
            return "task"
        return "codec"

    def output_ranges(self, modality: Modality, exclude: Iterable[int] = ()) -> list[tuple[int, int]]:
        """Half-open id ranges a task of this output modality may emit (always including eos), without
        the text ids ``exclude`` (a tokenizer's unknown and control pieces)."""
        eos = (self.eos_id, self.eos_id + 1)
        if modality is Modality.TEXT:
            ranges = [(0, self.text_size), eos]
        elif modality is Modality.CODEC:
            ranges = [eos, (self.codec_offset, self.size)]
        else:
            raise ValueError(f"{modality} is not an output modality")
        holes = sorted({int(i) for i in exclude if 0 <= int(i) < self.text_size})
        out = []
        for lo, hi in ranges:
            start = lo
            for hole in (h for h in holes if lo <= h < hi):
                if start < hole:
                    out.append((start, hole))
                start = hole + 1
            if start < hi:
                out.append((start, hi))
        return out

    # -- persistence --------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "VocabLayout":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise LayoutMismatchError(f"vocabulary layout has unknown keys {sorted(unknown)}")
        return cls(**data)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def check_same(self, other: "VocabLayout", where: str) -> None:
        """Raise ``LayoutMismatchError`` naming every field in which ``other`` (found in ``where``) differs."""
        diffs = [
            f"{f.name}: expected {getattr(self, f.name)!r}, {where} has {getattr(other, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]
        if diffs:
            raise LayoutMismatchError(f"vocabulary layout mismatch with {where}: " + "; ".join(diffs))
