"""Interfaces of the model's components. Plugins implement them; ``laura_core.model.lauragpt`` assembles them.

Shapes use B = batch, S = samples, F = feature frames, T = sequence positions, D = width,
H = attention heads, Hkv = key/value heads, Dh = head width, L = layers.
"""
from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import nn


class AudioEncoder(nn.Module, abc.ABC):
    """Audio -> continuous embeddings of the GPT width (LauraGPT's audio input path), in three stages:

        features(wav [B, S], wav_lengths [B])   -> feats [B, F, n_feats], feat_lengths
        encode(feats, feat_lengths)              -> hidden [B, T', d], lengths    (the trunk)
        adapt(hidden, lengths)                   -> emb [B, T, D], emb_lengths    (the adapter to the GPT width)

    Padded positions of every output are unspecified; real positions must not depend on padding: a
    padded batch gives each item the outputs it gets alone. Where no trunk parameter trains (a frozen
    pretrained trunk), an item's ``hidden`` depends on its waveform alone, so the model may cache it.
    """

    sample_rate: int  # the waveform rate it expects
    output_dim: int  # D, set to the backbone width by the model config

    @abc.abstractmethod
    def features(self, wav: torch.Tensor, wav_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms -> input features ``[B, F, n_feats]`` and feature lengths ``[B]``."""

    @abc.abstractmethod
    def encode(self, feats: torch.Tensor, feat_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features -> the trunk's frames ``[B, T', d]`` and their lengths ``[B]``."""

    @abc.abstractmethod
    def adapt(self, hidden: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The trunk's frames -> embeddings ``[B, T, D]`` of the GPT width and their lengths ``[B]``."""

    @abc.abstractmethod
    def output_lengths(self, wav_lengths: torch.Tensor) -> torch.Tensor:
        """Embedding frames produced for waveforms of these lengths (used to lay out sequences)."""

    def trunk_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters of ``features`` and ``encode`` (everything but the adapter)."""
        adapter = {id(p) for p in self.adapter.parameters()} if hasattr(self, "adapter") else set()
        return (p for p in self.parameters() if id(p) not in adapter)

    @property
    def trunk_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.trunk_parameters())

    def trunk(self, wav: torch.Tensor, wav_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(*self.features(wav, wav_lengths))

    def forward(self, wav: torch.Tensor, wav_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.adapt(*self.trunk(wav, wav_lengths))


class KVCache:
    """Preallocated key/value cache for incremental decoding of a batch.

    ``keys``/``values``: ``[L, B, Hkv, max_len, Dh]``. Every item writes at the same position
    ``length`` (prompts of different lengths are left-padded and masked), so one step is one
    slice assignment per layer.
    """

    def __init__(self, n_layers: int, batch: int, n_kv_heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        shape = (n_layers, batch, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.max_len = max_len
        self.length = 0  # positions filled so far
        self._split_layers()

    def _split_layers(self) -> None:
        # A view per layer: a decode step's write and read are then two narrow() calls each instead of
        # multi-dimensional indexing (a step is bound by per-op overhead at small batch).
        self.layer_keys, self.layer_values = self.keys.unbind(0), self.values.unbind(0)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``k``, ``v`` ``[B, Hkv, T, Dh]`` after the cached positions of ``layer``; return all keys
        and values so far ``[B, Hkv, length + T, Dh]``. Call ``advance(T)`` after the last layer."""
        start, stop = self.length, self.length + k.shape[2]
        if stop > self.max_len:
            raise RuntimeError(f"KV cache overflow: {stop} positions > max_len {self.max_len}")
        keys, values = self.layer_keys[layer], self.layer_values[layer]
        keys.narrow(2, start, stop - start).copy_(k)
        values.narrow(2, start, stop - start).copy_(v)
        return keys.narrow(2, 0, stop), values.narrow(2, 0, stop)

    def advance(self, n: int) -> None:
        self.length += n

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (beam search, rows that are done): ``keys[:, b] <- keys[:, index[b]]``.
        Only the filled positions are copied (the rest is written before it is read)."""
        for name in ("keys", "values"):
            old = getattr(self, name)
            new = old.new_empty((old.shape[0], len(index), *old.shape[2:]))
            new.narrow(3, 0, self.length).copy_(old.narrow(3, 0, self.length).index_select(1, index))
            setattr(self, name, new)
        self._split_layers()


class Backbone(nn.Module, abc.ABC):
    """Decoder-only transformer over input embeddings.

    ``forward(inputs_embeds [B, T, D], attention_mask [B, P + T] bool, position_ids [B, T] long,
    cache: KVCache | None) -> hidden [B, T, D]`` where P = ``cache.length`` (0 without a cache).
    ``attention_mask[b, j]`` is True where key position j is a real token; attention is causal on
    top of it. With a cache, the new keys/values are written into it and the cache advances by T.
    """

    hidden_size: int
    vocab_size: int  # rows of the token embedding table

    @abc.abstractmethod
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids ``[B, T]`` -> embeddings ``[B, T, D]`` (the token embedding table)."""

    @abc.abstractmethod
    def logits(self, hidden: torch.Tensor, ranges: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
        """Hidden states ``[B, T, D]`` -> logits ``[B, T, vocab_size]`` (tied or untied output head), or
        with ``ranges`` only the columns of those half-open id ranges, concatenated in order."""

    @abc.abstractmethod
    def new_cache(self, batch: int, max_len: int) -> KVCache:
        """An empty cache for ``batch`` sequences of up to ``max_len`` positions, on this model's device/dtype."""

    def inference_session(self):
        """A context around one decoding call, during which the parameters do not change: a backbone
        that derives inference-only weights (fused, prepacked) checks them once here. Default: nothing."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def resize_vocab(self, size: int) -> None:
        """Grow (or shrink) the embedding table and output head to ``size`` rows, keeping existing rows."""


class Tokenizer(abc.ABC):
    """Text <-> text token ids in ``[0, vocab_size)``. Special, task and codec tokens are not the
    tokenizer's business: the vocabulary layout places them after the text range."""

    vocab_size: int

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abc.abstractmethod
    def decode(self, ids: Sequence[int]) -> str: ...

    @abc.abstractmethod
    def identity(self) -> str:
        """Kind, source file and content hash: saved with checkpoints so a model never meets the wrong tokenizer."""

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def never_emitted(self) -> list[int]:
        """Ids of the text range that no text output holds (unknown and control pieces, unused ids):
        generation never emits them. Default: none."""
        return []


class CorpusPreparer(abc.ABC):
    """Turns a corpus on disk into laura manifests (see ``laura_core.manifest``): ``laura prepare NAME SRC DST``.

    Audio is referenced where it lies (and resampled on the fly when read), never rewritten, except
    where a corpus has to be synthesised or mixed (the mini corpus).
    """

    needs_source: bool = True  # False for corpora built from what is installed (the mini corpus)

    @abc.abstractmethod
    def prepare(self, src: Path | None, dst: Path) -> dict[str, dict[str, Path]]:
        """Write ``dst/<task>/<split>.jsonl.gz`` manifests; return ``{task: {split: path}}``."""


class Codec(nn.Module, abc.ABC):
    """Waveform <-> residual-vector-quantizer codes (the audio output path: the GPT predicts group 0).

    Shapes: wav ``[B, 1, S]`` float at ``sample_rate``; codes ``[B, n, T]`` long in ``[0, codebook_size)``
    with ``n <= n_q`` (the first n groups); embeddings ``[B, dim, T]``. One frame covers ``hop_length``
    samples, so ``T = ceil(S / hop_length)`` and decoding ``T`` frames gives ``T * hop_length`` samples.
    Nothing downstream may assume a rate, a number of quantizers or a codebook size: read them here.
    """

    sample_rate: int
    hop_length: int  # samples per frame
    n_q: int  # quantizer groups
    codebook_size: int
    dim: int  # width of the quantized latent and of each codebook embedding
    # Options that only name files to read initial weights from (a downloaded checkpoint). A codec
    # directory holds its weights itself, so it records these empty and never needs the files again.
    weight_file_options: tuple[str, ...] = ()

    @property
    def frame_rate(self) -> float:
        """Frames per second: ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    def frames(self, samples: int) -> int:
        """Frames the codec gives for ``samples`` samples."""
        return -(-samples // self.hop_length)

    @abc.abstractmethod
    def encode(self, wav: torch.Tensor, n_q: int | None = None, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``wav [B, 1, S]`` -> codes ``[B, n_q, T]`` (all groups unless ``n_q`` asks for fewer). ``lengths
        [B]``: each item's samples in a zero-padded batch, so that a codec that can gives each item the
        codes it gets alone."""

    @abc.abstractmethod
    def embed(self, codes: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Codes ``[B, n', T]`` -> the sum of the first ``n`` (default n') quantizers' embeddings ``[B, dim, T]``."""

    @abc.abstractmethod
    def decode_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        """Summed embeddings ``[B, dim, T]`` -> wav ``[B, 1, T * hop_length]`` (what the vocoder predicts)."""

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, n, T]`` -> wav ``[B, 1, T * hop_length]``."""
        return self.decode_embeddings(self.embed(codes))

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights encoding and decoding use (training-only parts such as a discriminator left out):
        what a codec directory holds, and what the codec's identity hashes (``laura_core.model.codec``)."""
        return self.state_dict()


class TrainableCodec(Codec):
    """A codec ``laura train`` (kind ``codec``) can train: generator and discriminator, each with its own
    optimizer, updated from one backward pass (so the loop and its gradient accumulation stay shared)."""

    @abc.abstractmethod
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"generator": [...], "discriminator": [...]}``: disjoint, covering every trainable parameter."""

    @abc.abstractmethod
    def training_losses(self, wav: torch.Tensor, lengths: torch.Tensor, adversarial: bool) -> "CodecLosses":
        """Losses on a batch of clips ``wav [B, 1, S]`` with real lengths ``[B]``.

        ``generator`` must reach only generator parameters (the discriminator sees the generated audio
        through detached weights) and ``discriminator`` only discriminator parameters (it sees the
        generated audio detached), so their sum is one backward pass. Without ``adversarial`` (the
        warm-up) the discriminator is not used and ``discriminator`` is None.
        """


@dataclass
class CodecLosses:
    """What a codec training step returns: the two losses and named values to log (floats)."""

    generator: torch.Tensor
    discriminator: torch.Tensor | None
    values: dict[str, float]


class Vocoder(nn.Module, abc.ABC):
    """First-group codec codes + a condition -> the codec's other groups -> (codec decoder) waveform.

    LauraGPT's one-step vocoder regresses the sum of all groups' embeddings in one pass; a VALL-E-style
    baseline predicts groups 2..n_q one pass each. The condition is a sequence the vocoder encodes
    itself (``condition_features``): text ids for TTS, noisy speech for SE. A vocoder is built for one
    codec: it gets the codec's ``n_q``, ``codebook_size``, ``dim`` and ``sample_rate`` and the
    tokenizer's ``text_vocab_size`` as options (``laura_core.model.codec.vocoder_options``), never from its
    own config. Padding never changes a real item's output.

    A vocoder that ``takes_prompt`` also reads, after the condition, a voice prompt's sound: the codec's
    summed embeddings of all groups of a recording in the target's voice (zero-shot tts), so that it can
    render that voice's timbre, which the first group alone hardly carries.
    """

    takes_prompt: bool = False

    @abc.abstractmethod
    def condition_features(self, text: list[torch.Tensor | None], wav: list[torch.Tensor | None],
                           prompt: list[torch.Tensor | None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per item, text ids ``[N]`` or a waveform ``[S]`` (one of the two), and optionally a voice
        prompt's embeddings ``[dim, P]`` (``laura_core.model.synthesis.voice_context``; ignored unless
        ``takes_prompt``) -> a padded condition batch ``[B, C, Dc]`` and its lengths ``[B]``."""

    @abc.abstractmethod
    def loss(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor, cond_lengths: torch.Tensor,
             target_codes: torch.Tensor, codec: Codec) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss against all groups of the target ``[B, n_q, T]`` (targets come from the frozen
        ``codec``), and named values to log."""

    @abc.abstractmethod
    def synthesize(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor,
                   cond_lengths: torch.Tensor, codec: Codec) -> torch.Tensor:
        """Waveforms ``[B, 1, T * hop_length]`` for first-group codes ``[B, T]`` (padding frames give silence)."""
