"""Residual vector quantizer with EMA codebooks (SoundStream/EnCodec style).

Each codebook is learned without gradients: k-means on the first training batch, then an
exponential moving average of the vectors assigned to each code; codes that fall out of use are
re-seeded from the current batch. All of that state lives in buffers, so it is saved and resumed
with the state dict. Under torch.distributed the EMA statistics are summed over ranks and every
random choice is taken from rank 0, so all ranks keep identical codebooks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _all_reduce_(t: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(t)
    return t


def _broadcast_(t: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.broadcast(t, 0)
    return t


def _nearest(x: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """Index of the closest row of ``embed [K, D]`` for each row of ``x [N, D]`` (squared Euclidean)."""
    # |x|^2 is the same for every code, so it is left out of the argmin.
    return (embed.square().sum(1) - 2 * x @ embed.t()).argmin(1)


def _sample(x: torch.Tensor, k: int) -> torch.Tensor:
    """``k`` rows of ``x`` drawn at random (with replacement when there are fewer than k)."""
    n = x.shape[0]
    idx = torch.randperm(n, device=x.device)[:k] if n >= k else torch.randint(n, (k,), device=x.device)
    return x[idx]


class Codebook(nn.Module):
    """One EMA codebook of ``size`` vectors of width ``dim``. Works on float32 rows ``[N, dim]``."""

    def __init__(self, dim: int, size: int, decay: float, kmeans_iters: int, dead_code_share: float,
                 eps: float = 1e-5):
        super().__init__()
        self.size, self.decay, self.kmeans_iters, self.dead_share, self.eps = size, decay, kmeans_iters, \
            dead_code_share, eps
        embed = torch.randn(size, dim)  # placeholder until the k-means initialisation
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())  # EMA of the sum of vectors assigned to each code
        self.register_buffer("cluster_size", torch.ones(size))  # EMA of the number of vectors per code

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return _nearest(x, self.embed)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)

    def forward(self, x: torch.Tensor, update: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``x [N, dim]`` -> (quantized rows, codes). With ``update`` (training) the codebook
        is initialised if needed and then learns from ``x`` after the lookup."""
        if update and not bool(self.initialized):
            self.kmeans_init(x)
        codes = self.encode(x)
        quantized = self.decode(codes)
        if update:
            self._ema_update(x, codes)
        return quantized, codes

    @torch.no_grad()
    def kmeans_init(self, x: torch.Tensor) -> None:
        """A few Lloyd iterations from random rows of ``x``; a cluster that empties keeps its centroid."""
        centroids = _sample(x, self.size)
        counts = torch.zeros(self.size, device=x.device)
        for _ in range(max(self.kmeans_iters, 1)):
            codes = _nearest(x, centroids)
            counts = torch.bincount(codes, minlength=self.size).to(x.dtype)
            sums = torch.zeros_like(centroids).index_add_(0, codes, x)
            centroids = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centroids)
        _broadcast_(centroids)
        _broadcast_(counts)
        self.embed.copy_(centroids)
        # Consistent EMA state: embed == embed_avg / cluster_size.
        self.cluster_size.copy_(counts)
        self.embed_avg.copy_(centroids * counts[:, None])
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        counts = _all_reduce_(torch.bincount(codes, minlength=self.size).to(x.dtype))
        sums = _all_reduce_(torch.zeros_like(self.embed).index_add_(0, codes, x))
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps codes with (almost) no assignments from dividing by zero.
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n
        self.embed.copy_(self.embed_avg / smoothed[:, None])
        if self.dead_share > 0:
            # A code is dead when it gets under `dead_share` of a uniform code's assignments per step
            # (n / size): relative, so a small batch does not find most codes dead at every step and
            # churn the whole codebook (an absolute count of 2 did that at 200 frames per step for 256
            # codes). Dead codes restart from a random vector of this batch, counted as that floor.
            # torch.where instead of a data-dependent branch: no host sync, same collectives on every rank.
            floor = self.dead_share * n / self.size
            dead = (self.cluster_size < floor)[:, None]
            fresh = _broadcast_(_sample(x, self.size))
            self.embed.copy_(torch.where(dead, fresh, self.embed))
            self.embed_avg.copy_(torch.where(dead, fresh * floor, self.embed_avg))
            self.cluster_size.copy_(torch.where(dead[:, 0], floor, self.cluster_size))


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [B, dim, T], straight-through: its gradient reaches the input unchanged
    codes: torch.Tensor  # [B, n, T] long
    commitment: torch.Tensor  # scalar: mean over the n quantizers of |residual - codeword|^2 (see forward)
    n_q: int  # quantizers used


class ResidualVQ(nn.Module):
    """``n_q`` codebooks, each quantizing what the previous ones left of the latent ``[B, dim, T]``."""

    def __init__(self, dim: int, n_q: int, codebook_size: int, decay: float = 0.99, kmeans_iters: int = 10,
                 dead_code_share: float = 0.1, dropout_choices: list[int] | tuple[int, ...] = ()):
        super().__init__()
        self.dim, self.n_q, self.codebook_size = dim, n_q, codebook_size
        self.dropout_choices = list(dropout_choices)
        self.layers = nn.ModuleList(
            Codebook(dim, codebook_size, decay, kmeans_iters, dead_code_share) for _ in range(n_q))

    def sample_n_q(self, device: torch.device | str = "cpu") -> int:
        """Structured quantizer dropout: how many leading quantizers this training step keeps."""
        if not self.dropout_choices:
            return self.n_q
        # Drawn on rank 0 and shared, so that every rank runs the same codebooks (their EMA
        # statistics are all-reduced per codebook).
        index = _broadcast_(torch.randint(len(self.dropout_choices), (1,), device=device))
        return self.dropout_choices[int(index)]

    def _check_n(self, n: int) -> int:
        if not 1 <= n <= self.n_q:
            raise ValueError(f"number of quantizers {n} is outside [1, {self.n_q}]")
        return n

    def forward(self, x: torch.Tensor, n_q: int | None = None) -> QuantizerOutput:
        """Quantize ``x [B, dim, T]``. In training mode the codebooks learn from ``x`` and, unless ``n_q``
        is given, the number of quantizers is drawn by structured dropout."""
        if n_q is None:
            n_q = self.sample_n_q(x.device) if self.training else self.n_q
        self._check_n(n_q)
        b, d, t = x.shape
        with torch.autocast(x.device.type, enabled=False):  # distances and EMA in float32
            x = x.float()
            residual = x.detach().transpose(1, 2).reshape(b * t, d)
            latent = x.transpose(1, 2).reshape(b * t, d)
            total = torch.zeros_like(residual)
            codes, commitment = [], []
            for i, layer in enumerate(self.layers[:n_q]):
                q, c = layer(residual, update=self.training)
                # As in EnCodec/FunCodec, the encoder commits to the first codeword only; the later
                # terms are the residual quantization errors (no gradient), averaged into the value.
                commitment.append(F.mse_loss(latent if i == 0 else residual, q))
                residual = residual - q
                total = total + q
                codes.append(c.view(b, t))
            quantized = (latent + (total - latent).detach()).view(b, t, d).transpose(1, 2)
        return QuantizerOutput(quantized, torch.stack(codes, 1), torch.stack(commitment).mean(), n_q)

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """k-means initialise every codebook on what the earlier ones leave of ``x [B, dim, T]`` (the first
        training step does this lazily, level by level)."""
        residual = x.float().transpose(1, 2).reshape(-1, x.shape[1])
        for layer in self.layers:
            layer.kmeans_init(residual)
            residual = residual - layer.decode(layer.encode(residual))

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Latent ``[B, dim, T]`` -> codes ``[B, n_q, T]`` (no learning)."""
        n_q = self._check_n(self.n_q if n_q is None else n_q)
        b, d, t = x.shape
        with torch.autocast(x.device.type, enabled=False):
            residual = x.detach().float().transpose(1, 2).reshape(b * t, d)
            codes = []
            for layer in self.layers[:n_q]:
                c = layer.encode(residual)
                residual = residual - layer.decode(c)
                codes.append(c.view(b, t))
        return torch.stack(codes, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, n, T]`` -> the sum of the first n quantizers' codewords ``[B, dim, T]`` (float32)."""
        self._check_n(codes.shape[1])
        out = sum(layer.decode(codes[:, i]) for i, layer in enumerate(self.layers[: codes.shape[1]]))
        return out.transpose(1, 2)
