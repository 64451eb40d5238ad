"""Codec training losses: multi-scale spectral reconstruction and the adversarial (hinge) terms."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn


def _non_persistent(module: nn.Module) -> nn.Module:
    """Turn every buffer of ``module`` into a non-persistent one: fixed analysis windows and filterbanks
    are rebuilt from the config, so checkpoints hold only learned state."""
    for m in module.modules():
        for name, buf in list(m.named_buffers(recurse=False)):
            delattr(m, name)
            m.register_buffer(name, buf, persistent=False)
    return module


class SpectralLoss(nn.Module):
    """Multi-scale log-mel loss (L1 + L2) and log-magnitude spectrum loss (L1), each averaged over scales.

    One ``MelSpectrogram`` per window length (hop = window / 4); its magnitude spectrogram serves both
    losses. Short windows have mel bands narrower than one FFT bin; those bands are all-zero for both
    signals and add nothing.
    """

    def __init__(self, sample_rate: int, windows: list[int], n_mels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*filterbank.*")  # the empty bands, see above
            self.mels = nn.ModuleList(_non_persistent(torchaudio.transforms.MelSpectrogram(
                sample_rate, n_fft=w, win_length=w, hop_length=w // 4, n_mels=n_mels, power=1.0,
                center=True, pad_mode="constant")) for w in windows)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``pred``, ``target`` ``[B, 1, S]`` -> (mel loss, log-magnitude spectrum loss)."""
        b = pred.shape[0]
        mel_loss = spec_loss = 0.0
        with torch.autocast(pred.device.type, enabled=False):
            both = torch.cat((pred, target.detach())).float()
            for mel in self.mels:
                mag = mel.spectrogram(both)
                log_mag = mag.clamp_min(self.eps).log()
                log_mel = mel.mel_scale(mag).clamp_min(self.eps).log()
                spec_loss = spec_loss + F.l1_loss(log_mag[:b], log_mag[b:])
                mel_loss = mel_loss + F.l1_loss(log_mel[:b], log_mel[b:]) + F.mse_loss(log_mel[:b], log_mel[b:])
        return mel_loss / len(self.mels), spec_loss / len(self.mels)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the real samples (``mask``, shaped like ``pred``: 1 there, 0 past each
    clip's length)."""
    return ((pred - target).abs() * mask).sum() / mask.sum().clamp_min(1)


def discriminator_hinge(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``, averaged over scales."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake)) / len(real)


def generator_hinge(fake: list[torch.Tensor]) -> torch.Tensor:
    """``mean(relu(1 - D(G(z))))``, averaged over scales."""
    return sum(F.relu(1 - f).mean() for f in fake) / len(fake)


def feature_matching(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 distance of discriminator activations relative to the real ones' mean magnitude, averaged
    over scales and layers (so every layer counts the same whatever its scale)."""
    terms = [F.l1_loss(f, r.detach()) / (r.detach().abs().mean() + 1e-8)
             for rs, fs in zip(real, fake) for r, f in zip(rs, fs)]
    return sum(terms) / len(terms)
