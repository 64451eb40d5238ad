"""SEANet convolutional encoder and decoder (EnCodec/FunCodec style, non-causal).

Encoder: conv -> per stride (residual units, ELU, strided conv of kernel 2*stride doubling the
channels) -> LSTM with a residual connection -> ELU, conv to ``dim``. The decoder mirrors it with
transposed convolutions. Zero "same" padding makes lengths exact: a waveform of ``T * hop`` samples
gives ``T`` latent frames and ``T`` frames give ``T * hop`` samples.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .config import LauraCodecConfig


def _norm(module: nn.Module, enabled: bool) -> nn.Module:
    # Variance-preserving initialisation (std 1 / sqrt(fan_in)): with PyTorch's default (a third of
    # the variance per layer) the input's share of the latent fell about 500x through the encoder.
    nn.init.kaiming_normal_(module.weight, nonlinearity="linear",
                            mode="fan_out" if isinstance(module, nn.ConvTranspose1d) else "fan_in")
    return weight_norm(module) if enabled else module


class Conv(nn.Module):
    """Conv1d padded by ``(kernel - 1) * dilation + 1 - stride`` zeros so length L becomes L / stride."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1, norm: bool = True):
        super().__init__()
        self.conv = _norm(nn.Conv1d(c_in, c_out, kernel, stride, dilation=dilation), norm)
        total = (kernel - 1) * dilation + 1 - stride
        self.pad = (total // 2, total - total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad))


class ConvTranspose(nn.Module):
    """ConvTranspose1d trimmed by ``kernel - stride`` samples so length L becomes L * stride.

    Without autograd, a kernel of twice the stride runs as its polyphase form: output sample
    ``m * stride + p`` is ``W[p] x[m] + W[p + stride] x[m - 1]``, one two-tap Conv1d to ``stride`` times
    the channels, interleaved. The same sums (up to float rounding), on oneDNN's fast convolution path,
    which PyTorch's transposed convolution on CPU does not take (it was 30% of decoding)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, norm: bool = True):
        super().__init__()
        self.conv = _norm(nn.ConvTranspose1d(c_in, c_out, kernel, stride), norm)
        self.stride, self.kernel = stride, kernel
        total = kernel - stride
        self.trim = (total // 2, total - total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or self.kernel != 2 * self.stride:
            y = self.conv(x)
        else:
            y = self.polyphase(x)
        return y[..., self.trim[0]: y.shape[-1] - self.trim[1]]

    def polyphase(self, x: torch.Tensor) -> torch.Tensor:
        """``self.conv(x)`` (untrimmed: ``(L + 1) * stride`` samples) as a two-tap convolution."""
        s, weight = self.stride, self.conv.weight  # [C_in, C_out, 2s] (weight norm applied)
        c_in, c_out = weight.shape[:2]
        # Output channel p * C_out + c: tap 0 reads x[m - 1] through W[:, c, p + s], tap 1 x[m] through W[:, c, p].
        taps = torch.stack([weight[:, :, s:], weight[:, :, :s]], dim=-1)  # [C_in, C_out, s, 2]
        taps = taps.permute(2, 1, 0, 3).reshape(s * c_out, c_in, 2)
        bias = None if self.conv.bias is None else self.conv.bias.repeat(s)
        y = F.conv1d(F.pad(x, (1, 1)), taps, bias)  # [B, s * C_out, L + 1]
        b, _, frames = y.shape
        return y.view(b, s, c_out, frames).permute(0, 2, 3, 1).reshape(b, c_out, frames * s)


class ResidualUnit(nn.Module):
    """ELU, dilated conv to ``channels // compress``, ELU, 1x1 conv back; plus a shortcut."""

    def __init__(self, channels: int, kernel: int, dilation: int, compress: int, true_skip: bool, norm: bool):
        super().__init__()
        hidden = channels // compress
        self.block = nn.Sequential(
            nn.ELU(), Conv(channels, hidden, kernel, dilation=dilation, norm=norm),
            nn.ELU(), Conv(hidden, channels, 1, norm=norm),
        )
        self.shortcut = nn.Identity() if true_skip else Conv(channels, channels, 1, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class LSTMBlock(nn.Module):
    """Multi-layer LSTM over time with a residual connection: ``[B, C, T] -> [B, C, T]``."""

    def __init__(self, channels: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(channels, channels, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(2, 0, 1)  # [T, B, C]
        y, _ = self.lstm(x)
        return (y + x).permute(1, 2, 0)


def _residual_units(cfg: LauraCodecConfig, channels: int) -> list[nn.Module]:
    return [ResidualUnit(channels, cfg.residual_kernel_size, cfg.dilation_base ** j, cfg.compress, cfg.true_skip,
                         cfg.weight_norm) for j in range(cfg.n_residual)]


class SEANetEncoder(nn.Module):
    """Waveform ``[B, 1, T * hop]`` -> latent ``[B, dim, T]``."""

    def __init__(self, cfg: LauraCodecConfig):
        super().__init__()
        ch = cfg.channels
        layers: list[nn.Module] = [Conv(1, ch, cfg.kernel_size, norm=cfg.weight_norm)]
        for stride in reversed(cfg.strides):
            layers += _residual_units(cfg, ch)
            layers += [nn.ELU(), Conv(ch, 2 * ch, 2 * stride, stride, norm=cfg.weight_norm)]
            ch *= 2
        if cfg.lstm_layers:
            layers.append(LSTMBlock(ch, cfg.lstm_layers))
        layers += [nn.ELU(), Conv(ch, cfg.dim, cfg.last_kernel_size, norm=cfg.weight_norm)]
        self.layers = nn.Sequential(*layers)
        self.hop_length = math.prod(cfg.strides)

    def forward(self, wav: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        """``frames [B]``: each item's frames in a padded batch. Past them every layer's output is zeroed,
        as the zero padding of an item encoded alone, so each item gets the latent it gets alone."""
        x, total = wav, wav.shape[-1] // self.hop_length
        if frames is None or total == 0:
            return self.layers(wav)
        for layer in self.layers:
            x = layer(x)
            valid = frames.to(x.device)[:, None] * (x.shape[-1] // total)  # positions per frame here
            x = x * (torch.arange(x.shape[-1], device=x.device) < valid)[:, None].to(x.dtype)
        return x


class SEANetDecoder(nn.Module):
    """Latent ``[B, dim, T]`` -> waveform ``[B, 1, T * hop]``."""

    def __init__(self, cfg: LauraCodecConfig):
        super().__init__()
        ch = cfg.channels * 2 ** len(cfg.strides)
        layers: list[nn.Module] = [Conv(cfg.dim, ch, cfg.kernel_size, norm=cfg.weight_norm)]
        if cfg.lstm_layers:
            layers.append(LSTMBlock(ch, cfg.lstm_layers))
        for stride in cfg.strides:
            layers += [nn.ELU(), ConvTranspose(ch, ch // 2, 2 * stride, stride, norm=cfg.weight_norm)]
            ch //= 2
            layers += _residual_units(cfg, ch)
        layers += [nn.ELU(), Conv(ch, 1, cfg.last_kernel_size, norm=cfg.weight_norm)]
        self.layers = nn.Sequential(*layers)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.layers(emb)
