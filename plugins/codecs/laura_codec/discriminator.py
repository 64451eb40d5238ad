"""Multi-scale STFT discriminator (EnCodec's MS-STFT design).

Each scale takes the complex STFT of the waveform at one resolution, stacks real and imaginary parts
as two input channels over (time, frequency), and runs a stack of 2D convolutions: one plain, then
strided (frequency / 2) layers with growing time dilation, then two 3x3 layers, the last giving
one logit per (time, frequency) cell. Every hidden activation is returned for feature matching.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _conv(c_in: int, c_out: int, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
          dilation: tuple[int, int] = (1, 1)) -> nn.Module:
    padding = tuple((k - 1) * d // 2 for k, d in zip(kernel, dilation))  # "same" size before striding
    return weight_norm(nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation))


class STFTDiscriminator(nn.Module):
    """Waveform ``[B, 1, S]`` -> (logits ``[B, 1, frames, freq']``, hidden activations)."""

    def __init__(self, n_fft: int, filters: int, growth: int, max_filters: int, dilations: list[int],
                 kernel: tuple[int, int] = (3, 9)):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        convs = [_conv(2, filters, kernel)]
        c = filters
        for i, d in enumerate(dilations):
            c_out = min(filters * growth ** (i + 1), max_filters)
            convs.append(_conv(c, c_out, kernel, stride=(1, 2), dilation=(d, 1)))
            c = c_out
        square = (kernel[0], kernel[0])
        c_out = min(filters * growth ** (len(dilations) + 1), max_filters)
        convs.append(_conv(c, c_out, square))
        self.convs = nn.ModuleList(convs)
        self.post = _conv(c_out, 1, square)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast(wav.device.type, enabled=False):  # the FFT in float32
            spec = torch.stft(wav.squeeze(1).float(), self.n_fft, self.hop, window=self.window.float(),
                              normalized=True, center=True, pad_mode="constant", return_complex=True)
        x = torch.stack((spec.real, spec.imag), 1).transpose(2, 3)  # [B, 2, frames, freq]
        x = x.to(self.post.bias.dtype)
        features = []
        for conv in self.convs:
            x = self.act(conv(x))
            features.append(x)
        return self.post(x), features


class MultiScaleSTFTDiscriminator(nn.Module):
    """One ``STFTDiscriminator`` per FFT size: ``wav -> ([logits per scale], [[features] per scale])``."""

    def __init__(self, n_ffts: list[int], filters: int = 32, growth: int = 1, max_filters: int = 1024,
                 dilations: list[int] | tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.scales = nn.ModuleList(
            STFTDiscriminator(n, filters, growth, max_filters, list(dilations)) for n in n_ffts)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        logits, features = [], []
        for scale in self.scales:
            logit, feats = scale(wav)
            logits.append(logit)
            features.append(feats)
        return logits, features
