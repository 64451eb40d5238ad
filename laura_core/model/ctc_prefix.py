"""Joint CTC/attention decoding: the CTC prefix score of each candidate next token (Watanabe et al.,
2017, "Hybrid CTC/attention architecture"; ESPnet's ``CTCPrefixScore``), vectorised over rows and
candidates.

The prefix score of a hypothesis g is the log-probability under the CTC head that the transcript
*starts* with g. Added to the GPT's log-probabilities with a weight, it keeps decoding on what the
audio says: a transcript the GPT finds likely but the CTC head does not align to the audio loses.
Each decoding step scores the ``pre_beam`` best candidates of the GPT only; the rest are dropped.
"""
from __future__ import annotations

import torch

NEG_INF = float("-inf")


class CTCPrefixScorer:
    """CTC prefix scores for the rows of a decoding batch.

    ``log_probs`` ``[R, T, C+1]``: log-softmax of the CTC head, C text ids then blank; ``lengths`` ``[R]``
    frames per row; ``active`` ``[R]`` bool: rows the scorer applies to (others keep the GPT's scores).
    ``vocab`` ``[V]``: the vocabulary id of each column of the decoder's restricted logits; ``eos_id``.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, active: torch.Tensor, vocab: torch.Tensor,
                 eos_id: int, weight: float, pre_beam: int):
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"ctc_weight must be in (0, 1], got {weight}")
        rows, frames, classes = log_probs.shape
        self.blank = classes - 1
        self.weight, self.pre_beam = weight, pre_beam
        self.vocab, self.eos_id = vocab, eos_id
        self.active = active
        # Frames past a row's end: blank with probability 1, so every prefix's state carries over unchanged.
        past = torch.arange(frames, device=log_probs.device)[None, :] >= lengths[:, None]
        lp = log_probs.float().masked_fill(past[..., None], NEG_INF)
        lp[..., self.blank] = lp[..., self.blank].masked_fill(past, 0.0)
        self.log_probs = lp  # [R, T, C+1]
        # The empty prefix: all blanks so far (r_b), nothing ending in a label (r_n).
        self.r_blank = lp[..., self.blank].cumsum(-1)  # [R, T]
        self.r_label = torch.full_like(self.r_blank, NEG_INF)
        self.score = torch.zeros(rows, device=lp.device)  # prefix score of each row's hypothesis
        self.last = torch.full((rows,), -1, dtype=torch.long, device=lp.device)  # its last label (-1: none)
        self.started = torch.zeros(rows, dtype=torch.bool, device=lp.device)
        self._pending: tuple | None = None

    def rescore(self, logp: torch.Tensor) -> torch.Tensor:
        """``logp`` ``[R, V]``: the GPT's log-probabilities over the restricted columns. Returns the joint
        score ``(1 - w) * logp + w * (prefix score gain)`` for each row's ``pre_beam`` best columns,
        ``-inf`` for the other columns of active rows; inactive rows get ``logp`` back."""
        k = min(self.pre_beam, logp.shape[-1])
        cand_cols = logp.topk(k, dim=-1).indices  # [R, K]
        cand_ids = self.vocab[cand_cols]
        is_eos = cand_ids == self.eos_id
        labels = cand_ids.clamp(max=self.blank - 1).masked_fill(is_eos, 0)  # eos: a dummy label, scored apart
        prefix, r_label, r_blank = self._extend(labels)
        full = torch.logaddexp(self.r_label[:, -1], self.r_blank[:, -1])  # the whole transcript is g
        prefix = torch.where(is_eos, full[:, None], prefix)
        gain = prefix - self.score[:, None]
        joint = (1 - self.weight) * logp.gather(-1, cand_cols) + self.weight * gain
        out = torch.full_like(logp, NEG_INF).scatter(-1, cand_cols, joint)
        self._pending = (cand_cols, labels, prefix, r_label, r_blank)
        return torch.where(self.active[:, None], out, logp)

    def advance(self, rows: torch.Tensor, columns: torch.Tensor) -> None:
        """Row ``i`` of the next step continues row ``rows[i]`` of this one with column ``columns[i]``
        (one of its candidates in the last ``rescore``; eos or a dropped column leaves the state as is)."""
        cand_cols, labels, prefix, r_label, r_blank = self._pending
        match = cand_cols[rows] == columns[:, None]  # [R', K]
        found = match.any(-1) & (self.vocab[columns] != self.eos_id)
        pick = match.float().argmax(-1)
        keep = lambda new, old: torch.where(found.view(-1, *[1] * (new.dim() - 1)), new, old)  # noqa: E731
        self.r_label = keep(r_label[rows, pick], self.r_label[rows])
        self.r_blank = keep(r_blank[rows, pick], self.r_blank[rows])
        self.score = keep(prefix[rows, pick], self.score[rows])
        self.last = keep(labels[rows, pick], self.last[rows])
        self.started = self.started[rows] | found
        self.log_probs, self.active = self.log_probs[rows], self.active[rows]
        self._pending = None

    def select(self, rows: torch.Tensor) -> None:
        """Row ``i`` becomes a copy of row ``rows[i]`` (beams of one row start alike)."""
        for name in ("log_probs", "active", "r_label", "r_blank", "score", "last", "started"):
            setattr(self, name, getattr(self, name)[rows])

    def _extend(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prefix scores ``[R, K]`` of each row's hypothesis extended by ``labels`` ``[R, K]``, and the
        forward variables ``[R, K, T]`` of the extended prefixes (ending in a label / in blank)."""
        rows, frames = self.r_blank.shape
        k = labels.shape[1]
        lp_label = self.log_probs.gather(-1, labels[:, None, :].expand(rows, frames, k)).transpose(1, 2)  # [R, K, T]
        lp_blank = self.log_probs[..., self.blank][:, None, :]  # [R, 1, T]
        # phi: paths that may take the new label next. A repeated label needs a blank between.
        same = (labels == self.last[:, None])[..., None]
        phi = torch.where(same, self.r_blank[:, None, :], torch.logaddexp(self.r_label, self.r_blank)[:, None, :])
        r_label = torch.full((rows, k, frames), NEG_INF, device=labels.device)
        r_blank = torch.full_like(r_label, NEG_INF)
        # At frame 0 only the empty prefix can take its first label.
        r_label[..., 0] = torch.where(self.started[:, None], NEG_INF, lp_label[..., 0])
        prefix = r_label[..., 0].clone()
        for t in range(1, frames):
            into = phi[..., t - 1] + lp_label[..., t]
            r_label[..., t] = torch.logaddexp(r_label[..., t - 1], phi[..., t - 1]) + lp_label[..., t]
            r_blank[..., t] = torch.logaddexp(r_label[..., t - 1], r_blank[..., t - 1]) + lp_blank[..., t]
            prefix = torch.logaddexp(prefix, into)
        return prefix, r_label, r_blank
