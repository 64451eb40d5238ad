"""The VALL-E-style non-autoregressive baseline vocoder (what the one-step vocoder replaces).

For each group j = 2..n_q, the same Conformer predictor reads ``[condition ; sum of the embeddings of
groups 1..j-1 + an embedding of j]`` and gives logits over the codebook for group j. Training:
cross-entropy on one random group per item. Synthesis: ``n_q - 1`` passes, each filling the next
group greedily, then the codec decodes all groups. Same width and depth as ``onestep``.

Groups are 0-based in the code: group 0 is the GPT's first group, groups 1..n_q-1 are predicted.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from laura_core import hookimpl
from laura_core.errors import DataError
from laura_core.interfaces import Codec
from laura_plugins.vocoders.common import SIZES, CodecVocoder, VocoderConfig, lengths_mask


@dataclass
class MultiStepConfig(VocoderConfig):
    def require_codec_fields(self) -> None:
        super().require_codec_fields()
        self._check(self.n_q >= 2, "n_q", "must be at least 2 (group 1 comes from the GPT, the rest are predicted)")


class MultiStepVocoder(CodecVocoder):
    """First-group codes + condition -> all ``n_q`` groups (``generate_codes``) -> waveform."""

    def __init__(self, config: MultiStepConfig):
        super().__init__(config)
        n_inputs = config.n_q - 1  # groups 0..n_q-2 are ever inputs
        self.code_embeds = nn.ModuleList(nn.Embedding(config.codebook_size, config.d_model) for _ in range(n_inputs))
        self.group_embed = nn.Embedding(n_inputs, config.d_model)  # which group (1..n_q-1) is predicted
        self.head = nn.Linear(config.d_model, config.codebook_size)

    def forward(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor, cond_lengths: torch.Tensor,
                group: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, T, codebook_size]`` for group ``group[b]`` (in 1..n_q-1) of each item, from its
        groups ``0..group[b]-1`` of ``codes [B, n, T]`` (``n >= max(group)``; later groups are ignored).
        Unlike the one-step vocoder's, this forward gives logits, not embeddings."""
        valid = lengths_mask(code_lengths, codes.shape[2])
        codes = codes.masked_fill(~valid[:, None], 0)
        x = self.group_embed(group - 1)[:, None, :].expand(-1, codes.shape[2], -1)
        # Every table is looked up (weight 0 where unused) so that every parameter gets a gradient
        # each step (DDP, FSDP).
        for g, table in enumerate(self.code_embeds):
            used = codes[:, min(g, codes.shape[1] - 1)]  # past the given groups: any ids, weighted 0
            x = x + table(used) * (g < group)[:, None, None]
        return self.head(self.predictor(cond, cond_lengths, x, code_lengths))

    def loss(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor, cond_lengths: torch.Tensor,
             target_codes: torch.Tensor, codec: Codec) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy on one random group per item (1..n_q-1, from torch's global generator), given the
        first group ``codes`` and the target's groups before it (teacher forcing), over the real frames."""
        self.check_codec(codec)
        n_q = self.config.n_q
        if target_codes.dim() != 3 or target_codes.shape[1] != n_q:
            raise DataError(f"target_codes must be [B, n_q={n_q}, T], got shape {tuple(target_codes.shape)}")
        b, _, t = target_codes.shape
        inputs = torch.cat([self.check_codes(codes, code_lengths)[:, None], target_codes[:, 1:]], 1)
        group = torch.randint(1, n_q, (b,), device=codes.device)
        logits = self(inputs, code_lengths, cond, cond_lengths, group).float()
        target = target_codes.gather(1, group[:, None, None].expand(b, 1, t))[:, 0]
        valid = lengths_mask(code_lengths, t)  # only real frames count
        logits, target = logits[valid], target[valid]
        ce = F.cross_entropy(logits, target) if len(target) else logits.sum()
        accuracy = (logits.argmax(-1) == target).sum() / max(len(target), 1)
        return ce, {"ce": ce.item(), "accuracy": accuracy.item()}

    @torch.no_grad()
    def generate_codes(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor,
                       cond_lengths: torch.Tensor) -> torch.Tensor:
        """All groups ``[B, n_q, T]`` from the first ``codes [B, T]``: ``n_q - 1`` greedy passes (padding 0)."""
        b, t = codes.shape
        out = codes.new_zeros(b, self.config.n_q, t)
        out[:, 0] = self.check_codes(codes, code_lengths)
        for j in range(1, self.config.n_q):
            logits = self(out, code_lengths, cond, cond_lengths, torch.full((b,), j, device=codes.device))
            out[:, j] = logits.argmax(-1)
        return out.masked_fill(~lengths_mask(code_lengths, t)[:, None], 0)

    @torch.no_grad()
    def synthesize(self, codes: torch.Tensor, code_lengths: torch.Tensor, cond: torch.Tensor,
                   cond_lengths: torch.Tensor, codec: Codec) -> torch.Tensor:
        """``n_q - 1`` predictor passes, then ``codec.decode``; ``[B, 1, T * hop_length]``, padding silent."""
        self.check_codec(codec)
        all_codes = self.generate_codes(codes, code_lengths, cond, cond_lengths)
        return self.decode_items(codec, all_codes, code_lengths, codec.decode)


@hookimpl
def register_components(register):
    register("vocoder", "multistep", MultiStepVocoder,
             "VALL-E-style non-autoregressive baseline vocoder: predicts codec groups 2..n_q one pass each "
             "(cross-entropy), then the codec decoder; same Conformer predictor budget as onestep",
             config=MultiStepConfig, sizes=SIZES)
