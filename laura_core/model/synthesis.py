"""Codec tokens -> waveforms: the vocoder predicts the codec's embeddings from the model's first-group
codes and a condition (the text for tts, the noisy speech for se), and the codec decoder renders them.
Shared by ``laura infer`` and validation decoding, so both voice the model's output the same way."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from laura_core.audio import pad_waves

if TYPE_CHECKING:
    from laura_core.interfaces import Codec, Vocoder


@torch.no_grad()
def voice_context(codec: "Codec", waves: Sequence[torch.Tensor | np.ndarray | None]) -> list[torch.Tensor | None]:
    """What a vocoder that takes a prompt reads of it: per item, a voice prompt's waveform at the codec's
    rate (or None) -> the codec's summed embeddings of all its groups ``[dim, P]`` (P: the codec's frames
    for its length). The prompts are encoded in one padded batch."""
    present = [i for i, w in enumerate(waves) if w is not None and len(w) > 0]
    out: list[torch.Tensor | None] = [None] * len(waves)
    if not present:
        return out
    device = next(codec.parameters()).device
    batch, lengths = pad_waves([torch.as_tensor(waves[i]).float().reshape(-1) for i in present])
    codes = codec.encode(batch.to(device), lengths=lengths.to(device))
    embedded = codec.embed(codes, codec.n_q).float()
    for row, i in enumerate(present):
        out[i] = embedded[row, :, : codec.frames(int(lengths[row]))]
    return out


@torch.inference_mode()
def synthesize(vocoder: "Vocoder", codec: "Codec", codes: Sequence[Sequence[int]],
               text: Sequence[torch.Tensor | None], wav: Sequence[torch.Tensor | None],
               prompts: Sequence[np.ndarray | torch.Tensor | None] = ()) -> list[np.ndarray]:
    """One waveform ``[len(codes[i]) * hop_length]`` at ``codec.sample_rate`` per item, from its
    (non-empty) first-group codes and its condition: text ids ``[N]`` or a waveform ``[S]`` at the
    codec's rate (one of the two). ``prompts``: per item a voice prompt's recording at the codec's rate,
    or None; read by a vocoder that ``takes_prompt``, ignored by others. Items are synthesised in one
    padded batch."""
    if any(len(c) == 0 for c in codes):
        raise ValueError("an item without codes has nothing to synthesise")
    device = next(vocoder.parameters()).device
    lengths = torch.tensor([len(c) for c in codes], device=device)
    batch = torch.zeros(len(codes), int(lengths.max()), dtype=torch.long, device=device)
    for row, item in enumerate(codes):
        batch[row, : len(item)] = torch.as_tensor(item, device=device)
    prompts = list(prompts) + [None] * (len(codes) - len(prompts))
    context = voice_context(codec, prompts) if vocoder.takes_prompt and any(p is not None for p in prompts) else None
    cond, cond_lengths = vocoder.condition_features([None if t is None else t.to(device) for t in text],
                                                    [None if w is None else w.to(device) for w in wav], context)
    audio = vocoder.synthesize(batch, lengths, cond, cond_lengths, codec).float().cpu()
    return [audio[row, 0, : len(item) * codec.hop_length].numpy() for row, item in enumerate(codes)]
