"""The frequency-domain encoder and decoder of ``laura_codec`` (``domain: frequency``), in the manner of
FunCodec's FreqCodec and of Vocos: the encoder reads STFT log-magnitudes, the decoder predicts an STFT
(log-magnitude and phase) and an inverse STFT makes the waveform. Every layer runs at the STFT frame
rate (100 Hz for hop 160) instead of the sample rate, so it is far cheaper than SEANet per second of
audio and learns intelligible speech in a CPU budget.

Encoder: STFT (``n_fft``, ``stft_hop``) -> log-magnitude -> conv -> ConvNeXt blocks -> a strided
convolution stacking ``hop_length / stft_hop`` frames into one latent frame of width ``dim``.
Decoder: the mirror, a transposed convolution back to the STFT frame rate -> ConvNeXt blocks -> linear
head to log-magnitude and phase per bin -> inverse STFT. Lengths are exact as in SEANet: ``T * hop``
samples give ``T`` latent frames, and ``T`` frames ``T * hop`` samples.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import LauraCodecConfig

LOG_FLOOR = 1e-5  # magnitudes below this are silence to the encoder
MAX_LOG_MAGNITUDE = 10.0  # the decoder's predicted log-magnitude is capped here (e^10 per bin: far above speech)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (kernel 7), LayerNorm, pointwise MLP (x3, GELU), layer scale, residual: ``[B, C, T]``."""

    def __init__(self, width: int, kernel: int = 7):
        super().__init__()
        self.dwconv = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width)
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 3 * width)
        self.down = nn.Linear(3 * width, width)
        self.scale = nn.Parameter(torch.full((width,), 1.0 / 8))  # small residual branches at the start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x).transpose(1, 2))
        y = self.down(F.gelu(self.up(y))) * self.scale
        return x + y.transpose(1, 2)


class _Stack(nn.Module):
    """ConvNeXt blocks and a final LayerNorm, zeroing positions past each item's length after each
    block (``valid [B, T]``), as the zero padding of that item alone: a padded batch changes nothing."""

    def __init__(self, width: int, layers: int):
        super().__init__()
        self.blocks = nn.ModuleList(ConvNeXtBlock(width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
            if valid is not None:
                x = x * valid[:, None]
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class STFTEncoder(nn.Module):
    """Waveform ``[B, 1, T * hop]`` -> latent ``[B, dim, T]``."""

    def __init__(self, cfg: LauraCodecConfig):
        super().__init__()
        self.n_fft, self.stft_hop, self.hop_length = cfg.n_fft, cfg.stft_hop, cfg.hop_length
        self.stack = cfg.hop_length // cfg.stft_hop  # STFT frames per latent frame
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.inp = nn.Conv1d(cfg.n_fft // 2 + 1, cfg.width, 7, padding=3)
        self.body = _Stack(cfg.width, cfg.layers)
        self.out = nn.Conv1d(cfg.width, cfg.dim, self.stack, stride=self.stack)

    def forward(self, wav: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """``frames [B]``: each item's latent frames in a padded batch; past them every layer's output is
        zeroed, so each item gets the latent it gets alone."""
        t = wav.shape[-1] // self.hop_length
        with torch.autocast(wav.device.type, enabled=False):  # the STFT in float32 under a bf16 run
            spec = torch.stft(wav[:, 0].float(), self.n_fft, self.stft_hop, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)
        x = spec.abs()[..., : t * self.stack].clamp_min(LOG_FLOOR).log()  # [B, bins, T * stack]
        valid = None
        if frames is not None:
            positions = torch.arange(x.shape[-1], device=x.device)
            valid = (positions < frames.to(x.device)[:, None] * self.stack).to(x.dtype)
            x = x * valid[:, None]
        x = self.inp(x)
        if valid is not None:
            x = x * valid[:, None]
        return self.out(self.body(x, valid))


class ISTFTDecoder(nn.Module):
    """Latent ``[B, dim, T]`` -> waveform ``[B, 1, T * hop]``."""

    def __init__(self, cfg: LauraCodecConfig):
        super().__init__()
        self.n_fft, self.stft_hop = cfg.n_fft, cfg.stft_hop
        self.stack = cfg.hop_length // cfg.stft_hop
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.inp = nn.ConvTranspose1d(cfg.dim, cfg.width, self.stack, stride=self.stack)
        self.body = _Stack(cfg.width, cfg.layers)
        self.head = nn.Linear(cfg.width, 2 * (cfg.n_fft // 2 + 1))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        x = self.body(self.inp(emb), None)  # [B, width, T * stack]
        log_mag, phase = self.head(x.transpose(1, 2)).float().chunk(2, dim=-1)  # [B, frames, bins] each
        spec = torch.polar(log_mag.clamp(max=MAX_LOG_MAGNITUDE).exp(), phase).transpose(1, 2)
        # A centred inverse STFT of L samples wants L / hop + 1 frames: the last is a silent one.
        spec = F.pad(spec, (0, 1))
        with torch.autocast(emb.device.type, enabled=False):
            wav = torch.istft(spec, self.n_fft, self.stft_hop, window=self.window, center=True,
                              length=x.shape[-1] * self.stft_hop)
        return wav[:, None]
