"""Hugging Face ``tokenizers`` text tokenizer: a ``tokenizer.json`` as shipped with Qwen2.5 checkpoints.

The text range is every id the tokenizer knows, its own added tokens (Qwen's ``<|endoftext|>``,
``<|im_start|>``, ...) included: they sit inside its id range, and the vocabulary layout's special,
task and codec tokens come after it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import tokenizers

from laura_core import hookimpl
from laura_core.errors import ConfigError
from laura_core.interfaces import Tokenizer

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class HFTokenizerConfig:
    path: str  # a tokenizer.json file, or a directory holding one


class HFTokenizer(Tokenizer):
    def __init__(self, config: HFTokenizerConfig):
        path = Path(config.path)
        file = path / TOKENIZER_FILE if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"hf tokenizer (key 'path'): file not found: {file}")
        data = file.read_bytes()
        try:
            self._tok = tokenizers.Tokenizer.from_str(data.decode("utf-8"))
        except Exception as e:  # tokenizers raises plain Exception on a malformed file
            raise ConfigError(f"hf tokenizer: {file} is not a tokenizers JSON file ({e})") from None
        self.path = file
        # The text range runs to the highest id. get_vocab_size(with_added_tokens=True) counts tokens,
        # which is the same for contiguous ids (Qwen2.5: 151643 + 22 added) but falls short across a gap.
        self.vocab_size = max(self._tok.get_vocab(with_added_tokens=True).values()) + 1
        self._identity = f"hf:{file.name}:{hashlib.sha256(data).hexdigest()[:16]}"

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the text range [0, {self.vocab_size}) of {self._identity}")
        return self._tok.decode(ids, skip_special_tokens=False)

    def identity(self) -> str:
        return self._identity

    def never_emitted(self) -> list[int]:
        """Special added tokens (Qwen's ``<|endoftext|>``, ``<|im_start|>``, ...) and ids no token has."""
        special = {i for i, token in self._tok.get_added_tokens_decoder().items() if token.special}
        known = set(self._tok.get_vocab(with_added_tokens=True).values())
        return sorted(special | (set(range(self.vocab_size)) - known))


@hookimpl
def register_components(register):
    register(
        "tokenizer", "hf", HFTokenizer,
        "Hugging Face tokenizers tokenizer.json (e.g. Qwen2.5's), added tokens inside the text range",
        config=HFTokenizerConfig,
    )
