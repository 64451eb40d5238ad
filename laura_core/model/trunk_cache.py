"""Outputs of a frozen audio-encoder trunk, kept by audio key so that each recording is encoded once.

With a pretrained trunk frozen (LauraGPT starts from an ASR encoder; laura's ``whisper`` encoder is
frozen by default), an item's trunk frames depend on its audio alone, and every epoch would compute
them again: on a CPU that is most of a step. The cache holds them in memory up to ``max_bytes``
(later items are computed every time) and empties itself when the trunk's weights change (loading
a checkpoint, unfreezing). Only the adapter and the GPT then run per step.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import nn

Trunk = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class TrunkCache:
    def __init__(self, max_bytes: int = 4 << 30, dtype: torch.dtype | None = None):
        self.max_bytes = max_bytes
        self.dtype = dtype  # kept in this precision (the training's autocast dtype), or as computed
        self.bytes = 0
        self.hits = self.misses = 0
        self._frames: dict[str, torch.Tensor] = {}
        self._weights: tuple = ()

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()
        self.bytes = 0

    def _check_weights(self, params: Iterable[nn.Parameter]) -> None:
        # A parameter changed in place (load_state_dict, an optimizer) bumps its version counter.
        weights = tuple((p.data_ptr(), p._version, p.requires_grad) for p in params)
        if weights != self._weights:
            self.clear()
            self._weights = weights

    def frames(self, keys: Sequence[str | None], wav: torch.Tensor, wav_lengths: torch.Tensor, trunk: Trunk,
               params: Iterable[nn.Parameter]) -> tuple[torch.Tensor, torch.Tensor]:
        """The trunk's frames ``[B, T, d]`` and lengths ``[B]`` of a padded batch of waveforms: cached
        items from the cache, the others (and items without a key) from ``trunk``, which must give a
        padded item the frames it gets alone."""
        self._check_weights(params)
        todo = [i for i, key in enumerate(keys) if key is None or key not in self._frames]
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        fresh: dict[int, torch.Tensor] = {}
        if todo:
            index = torch.tensor(todo, device=wav.device)
            lengths = wav_lengths.index_select(0, index)
            with torch.no_grad():
                hidden, hidden_lengths = trunk(wav.index_select(0, index)[:, : int(lengths.max())], lengths)
            for i, h, n in zip(todo, hidden, hidden_lengths.tolist()):
                fresh[i] = h[:n].detach().to(self.dtype or h.dtype, copy=True)
                key = keys[i]
                size = fresh[i].numel() * fresh[i].element_size()
                if key is not None and self.bytes + size <= self.max_bytes:
                    self._frames[key] = fresh[i]
                    self.bytes += size
        items = [fresh[i] if i in fresh else self._frames[key] for i, key in enumerate(keys)]
        lengths = torch.tensor([len(h) for h in items], dtype=torch.long, device=wav.device)
        dtype = items[0].dtype if items else torch.float32
        padded = nn.utils.rnn.pad_sequence([h.to(dtype) for h in items], batch_first=True)
        return padded.to(wav.device), lengths
