"""Options of the LauraGPT codec. The defaults are the FunCodec configuration the paper uses:
16 kHz, strides [8, 5, 4, 2, 2] (hop 640, 25 frames/s), 32 quantizers x 1024 codes of width 128."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from laura_core.errors import ConfigError


@dataclass
class LauraCodecConfig:
    sample_rate: int = 16000
    # "time": SEANet convolutions on the waveform (the paper's, FunCodec's EnCodec-style codec);
    # "frequency": STFT encoder and inverse-STFT decoder with ConvNeXt blocks at the STFT frame rate
    # (FunCodec's FreqCodec, Vocos), many times cheaper per second of audio: ``frequency.py``.
    domain: str = "time"

    # SEANet encoder/decoder
    channels: int = 32  # width after the first convolution; doubled at every stride
    # Listed as EnCodec/FunCodec do: the decoder upsamples in this order, the encoder downsamples
    # in the reverse order. hop_length = prod(strides).
    strides: list[int] = field(default_factory=lambda: [8, 5, 4, 2, 2])
    dim: int = 128  # latent width = codebook embedding width
    n_residual: int = 1  # residual units before each downsampling (after each upsampling)
    kernel_size: int = 7  # first convolution (encoder) / first convolution (decoder)
    last_kernel_size: int = 7  # convolution to `dim` (encoder) / to the waveform (decoder)
    residual_kernel_size: int = 3
    dilation_base: int = 2  # residual unit j of a stage is dilated by dilation_base ** j
    compress: int = 2  # residual branches run at channels // compress
    true_skip: bool = False  # identity shortcut in residual units (False: a 1x1 convolution)
    lstm_layers: int = 2  # LSTM (with a residual connection) at the bottleneck; 0 = none
    weight_norm: bool = True

    # Frequency domain (domain: frequency). hop_length is still prod(strides); each latent frame stacks
    # hop_length / stft_hop STFT frames.
    n_fft: int = 640
    stft_hop: int = 160
    width: int = 256  # ConvNeXt width, encoder and decoder
    layers: int = 8  # ConvNeXt blocks, encoder and decoder each

    # Residual vector quantizer
    n_q: int = 32
    codebook_size: int = 1024
    ema_decay: float = 0.99
    kmeans_iters: int = 10  # Lloyd iterations of the k-means initialisation on the first training batch
    # A code whose EMA count of assignments per step (summed over ranks) falls below this share of a
    # uniformly used code's (frames per step / codebook_size) is replaced by a random vector of the
    # current batch; 0 disables replacement. (An absolute count, such as EnCodec's 2, suits large
    # batches only: with fewer frames per step than twice the codebook, nearly every code dies at
    # every step.)
    dead_code_share: float = 0.1
    # Structured quantizer dropout: each training step keeps the first n quantizers, n drawn
    # uniformly from this list; empty = always all n_q.
    quantizer_dropout: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32])

    # Multi-scale STFT discriminator (one 2D-conv stack per FFT size; window = n_fft, hop = n_fft / 4)
    disc_n_ffts: list[int] = field(default_factory=lambda: [1024, 2048, 512])
    disc_filters: int = 32
    disc_growth: int = 1  # filters multiply by this at every strided layer ...
    disc_max_filters: int = 1024  # ... up to this
    disc_dilations: list[int] = field(default_factory=lambda: [1, 2, 4])  # time dilations of the strided layers

    # Losses
    mel_windows: list[int] = field(default_factory=lambda: [2 ** i for i in range(5, 11)])  # hop = window / 4
    n_mels: int = 64
    l1_weight: float = 0.1  # waveform L1
    mel_weight: float = 1.0  # multi-scale log-mel L1 + L2
    spec_weight: float = 1.0  # multi-scale log-magnitude spectrum L1 (the paper's addition)
    commit_weight: float = 1.0
    adv_weight: float = 3.0  # hinge adversarial loss of the generator
    fm_weight: float = 3.0  # discriminator feature matching

    def __post_init__(self) -> None:
        def check(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ConfigError(f"LauraCodecConfig.{name} = {getattr(self, name)!r}: {rule}")

        check(self.domain in ("time", "frequency"), "domain", "must be time or frequency")
        for name in ("sample_rate", "channels", "dim", "kernel_size", "last_kernel_size", "residual_kernel_size",
                     "n_fft", "stft_hop", "width", "layers", "dilation_base", "compress", "n_q", "codebook_size",
                     "disc_filters", "disc_growth", "disc_max_filters", "n_mels"):
            check(getattr(self, name) > 0, name, "must be positive")
        for name in ("n_residual", "lstm_layers", "kmeans_iters", "dead_code_share", "l1_weight", "mel_weight",
                     "spec_weight", "commit_weight", "adv_weight", "fm_weight"):
            check(getattr(self, name) >= 0, name, "must not be negative")
        check(len(self.strides) > 0 and all(s > 0 for s in self.strides), "strides",
              "must be a non-empty list of positive integers")
        check(self.compress <= self.channels, "compress", f"must not exceed channels ({self.channels})")
        if self.domain == "frequency":
            check(self.hop_length % self.stft_hop == 0, "stft_hop",
                  f"must divide the hop length prod(strides) = {self.hop_length}")
            check(self.n_fft % 2 == 0 and self.n_fft >= 2 * self.stft_hop, "n_fft",
                  f"must be even and at least twice stft_hop ({self.stft_hop}): the inverse STFT needs the overlap")
        check(0.0 < self.ema_decay < 1.0, "ema_decay", "must be in (0, 1)")
        check(all(1 <= n <= self.n_q for n in self.quantizer_dropout), "quantizer_dropout",
              f"every entry must be in [1, n_q = {self.n_q}]")
        check(len(self.disc_n_ffts) > 0 and all(n >= 4 for n in self.disc_n_ffts), "disc_n_ffts",
              "must be a non-empty list of FFT sizes >= 4")
        check(all(d > 0 for d in self.disc_dilations), "disc_dilations", "must be positive")
        check(len(self.mel_windows) > 0 and all(w >= 4 for w in self.mel_windows), "mel_windows",
              "must be a non-empty list of window lengths >= 4 (hop = window / 4)")

    @property
    def hop_length(self) -> int:
        return math.prod(self.strides)
