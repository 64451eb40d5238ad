"""LauraGPT's one-step codec vocoder.

A non-causal Conformer predictor reads ``[condition ; embeddings of the first-group codes]`` and
regresses, at every code position, the SUM of all ``n_q`` codebook embeddings of the target frame;
the frozen codec decoder turns that sum into a waveform. One predictor pass per synthesis, where a
VALL-E-style vocoder makes ``n_q - 1`` (``multistep``). Loss: L1 + L2 against the codec's own sum.

With ``first_group_base`` (every size preset) the predictor adds its output to the first group's own
embedding, which the codes give exactly, and so learns only what the other groups add: its output
starts as the first group alone (the head starts at zero) and never has to relearn it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from laura_core import hookimpl
from laura_core.errors import DataError
from laura_core.interfaces import Codec
from laura_plugins.vocoders.common import SIZES, CodecVocoder, VocoderConfig, codec_dtype, lengths_mask


@dataclass
class OneStepConfig(VocoderConfig):
    # False in configs saved before it existed: those vocoders regress the whole sum.
    first_group_base: bool = False


# The presets of both vocoders, each with the first group as the base.
ONESTEP_SIZES = {name: {**preset, "first_group_base": True} for name, preset in SIZES.items()}


class OneStepVocoder(CodecVocoder):
    """First-group codes + condition -> the codec's summed embeddings ``[B, dim, T]`` in one pass."""

    def __init__(self, config: OneStepConfig):
        super().__init__(config)
        self.code_embed = nn.Embedding(config.codebook_size, config.d_model)
        self.out = nn.Linear(config.d_model, config.dim)
        if config.first_group_base:
            nn.init.zeros_(self.out.weight), nn.init.zeros_(self.out.bias)

    def forward(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor,
                cond_lengths: torch.Tensor) -> torch.Tensor:
        """``codes [B, T]`` -> predicted summed embeddings ``[B, dim, T]`` (padded frames unspecified)."""
        x = self.code_embed(self.check_codes(codes, code_lengths))
        return self.out(self.predictor(cond, cond_lengths, x, code_lengths)).transpose(1, 2)

    def predict(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor,
                cond_lengths: torch.Tensor, codec: Codec) -> torch.Tensor:
        """The summed embeddings ``[B, dim, T]``: ``forward``, on the first group's embedding where that is the base."""
        pred = self(codes, code_lengths, cond, cond_lengths)
        if self.config.first_group_base:
            pred = pred + codec.embed(self.check_codes(codes, code_lengths)[:, None], 1).to(pred.dtype)
        return pred

    def loss(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor, cond_lengths: torch.Tensor,
             target_codes: torch.Tensor, codec: Codec) -> tuple[torch.Tensor, dict[str, float]]:
        """L1 + L2 between the prediction and ``codec.embed(target_codes)`` over the real frames."""
        self.check_codec(codec)
        if target_codes.dim() != 3 or target_codes.shape[1] != codec.n_q:
            raise DataError(f"target_codes must be [B, n_q={codec.n_q}, T], got shape {tuple(target_codes.shape)}")
        valid = lengths_mask(code_lengths, target_codes.shape[2])  # [B, T]
        with torch.no_grad():  # the codec is frozen: its sum is the target, not something to train
            target = codec.embed(target_codes.masked_fill(~valid[:, None], 0), codec.n_q).float()
        pred = self.predict(codes, code_lengths, cond, cond_lengths, codec).float()
        diff = (pred - target).masked_fill(~valid[:, None], 0.0)  # padded frames count for nothing
        count = valid.sum().clamp_min(1) * pred.shape[1]
        l1, l2 = diff.abs().sum() / count, diff.square().sum() / count
        return l1 + l2, {"l1": l1.item(), "l2": l2.item()}

    @torch.no_grad()
    def synthesize(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor,
                   cond_lengths: torch.Tensor, codec: Codec) -> torch.Tensor:
        """One predictor pass, then the codec decoder; ``[B, 1, T * hop_length]``, padding frames silent."""
        self.check_codec(codec)
        pred = self.predict(codes, code_lengths, cond, cond_lengths, codec).to(codec_dtype(codec))
        return self.decode_items(codec, pred, code_lengths, codec.decode_embeddings)


@hookimpl
def register_components(register):
    register("vocoder", "onestep", OneStepVocoder,
             "LauraGPT one-step codec vocoder: Conformer predictor regresses the sum of all codebook embeddings "
             "from first-group codes + text/audio conditions (L1 + L2); one pass, then the codec decoder",
             config=OneStepConfig, sizes=ONESTEP_SIZES)
