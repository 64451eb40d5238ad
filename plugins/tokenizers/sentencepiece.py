"""SentencePiece text tokenizer: loads a ``.model`` file, or trains one from text, deterministically.

Trained models carry no bos/eos/pad pieces (the vocabulary layout owns special tokens), only
``<unk>`` at id 0. ``train`` is a classmethod so the core reaches it through the registered factory.
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import sentencepiece as spm
from omegaconf import OmegaConf

from laura_core import hookimpl
from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import Tokenizer
from laura_core.io import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

MODEL_FILE = "tokenizer.model"
SUMMARY_FILE = "tokenizer.yaml"

# Settings every trained model shares. The model file records the trainer's settings, the thread
# count too, so that is a constant rather than the machine's core count: the same text and settings
# give a byte-identical file anywhere.
_TRAINER_DEFAULTS: dict[str, Any] = dict(
    unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, hard_vocab_limit=False, num_threads=16, minloglevel=1
)


@dataclass
class SentencePieceConfig:
    model: str  # path to a SentencePiece ``.model`` file


class SentencePieceTokenizer(Tokenizer):
    def __init__(self, config: SentencePieceConfig):
        path = Path(config.model)
        if not path.is_file():
            raise ConfigError(f"sentencepiece tokenizer (key 'model'): file not found: {path}")
        data = path.read_bytes()
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=data)
        except RuntimeError as e:
            raise ConfigError(f"sentencepiece tokenizer: {path} is not a SentencePiece model ({e})") from None
        self.path = path
        self.vocab_size = self._sp.get_piece_size()
        self._identity = f"sentencepiece:{path.name}:{hashlib.sha256(data).hexdigest()[:16]}"

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._sp.encode(list(texts))

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the text range [0, {self.vocab_size}) of {self._identity}")
        return self._sp.decode(ids)

    def identity(self) -> str:
        return self._identity

    def never_emitted(self) -> list[int]:
        sp = self._sp
        return [i for i in range(self.vocab_size) if sp.is_unknown(i) or sp.is_control(i) or sp.is_unused(i)]

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        out_dir: str | Path,
        vocab_size: int,
        model_type: str = "unigram",
        character_coverage: float = 1.0,
        seed: int = 0,
        normalization: str = "identity",
        byte_fallback: bool = False,
        **options: Any,
    ) -> Path:
        """Train on ``texts`` and write ``out_dir/tokenizer.model`` plus a summary ``tokenizer.yaml``;
        return the model's path.

        ``vocab_size`` is a target: a corpus too small for it gives fewer pieces. ``model_type`` is
        "unigram" or "bpe". ``character_coverage`` below 1.0 (0.9995 is usual for CJK) maps the
        rarest characters to ``<unk>``. The default "identity" normalization makes decode return
        ordinary text exactly (runs of spaces still collapse to one); "nmt_nfkc" applies NFKC.
        ``byte_fallback`` spells unknown characters as UTF-8 byte pieces (256 more pieces) instead
        of ``<unk>``. ``options`` are further ``SentencePieceTrainer`` flags.
        """
        settings = dict(
            _TRAINER_DEFAULTS,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            normalization_rule_name=normalization,
            byte_fallback=byte_fallback,
            **options,
        )
        feed = _Feed(texts)
        model = io.BytesIO()
        spm.set_random_generator_seed(seed)
        try:
            spm.SentencePieceTrainer.train(sentence_iterator=iter(feed), model_writer=model, **settings)
        except RuntimeError as e:
            if feed.error is not None:  # the trainer reports it as a bare RuntimeError
                raise feed.error from None
            needed = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", str(e))
            if needed:
                raise ConfigError(f"sentencepiece training: vocab size {needed.group(1)} is below the {needed.group(2)} "
                                  f"pieces the text's characters need{' (256 of them bytes)' if byte_fallback else ''}: "
                                  f"raise --vocab-size") from None
            if feed.count == 0 and not byte_fallback:
                raise DataError("sentencepiece training: no training text (every sentence is empty)") from None
            if feed.count:
                raise
            # Tasks without any text (se alone) still need a text range: a byte-level tokenizer, pieces
            # for lowercase letters and digits, every other character spelt in bytes.
            log.warning("sentencepiece training: no training text; a byte-level tokenizer")
            feed = _Feed([" ".join(string.ascii_lowercase + string.digits)])
            model = io.BytesIO()
            spm.SentencePieceTrainer.train(sentence_iterator=iter(feed), model_writer=model, **settings)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = atomic_write_bytes(out / MODEL_FILE, model.getvalue())
        tokenizer = cls(SentencePieceConfig(model=str(path)))
        summary = {
            "identity": tokenizer.identity(),
            "vocab_size": tokenizer.vocab_size,
            "sentences": feed.count,
            "seed": seed,
            "settings": {k: v for k, v in settings.items() if k != "minloglevel"},
        }
        atomic_write_text(out / SUMMARY_FILE, OmegaConf.to_yaml(summary))
        return path


class _Feed:
    """The non-blank training sentences, counted. An error raised while reading them is kept: the
    trainer would otherwise turn it into a RuntimeError and lose its type and message."""

    def __init__(self, texts: Iterable[str]):
        self._texts = texts
        self.count = 0
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            for text in self._texts:
                if text.strip():
                    self.count += 1
                    yield text
        except Exception as e:
            self.error = e
            raise


@hookimpl
def register_components(register):
    register(
        "tokenizer", "sentencepiece", SentencePieceTokenizer,
        "SentencePiece model (.model file); SentencePieceTokenizer.train builds one from text",
        config=SentencePieceConfig,
    )
