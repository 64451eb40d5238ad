"""``laura_codec``: the FunCodec-style codec LauraGPT uses (SEANet + residual VQ + MS-STFT discriminator),
or its frequency-domain form (``domain: frequency``: STFT encoder, inverse-STFT decoder).

Modules: ``config`` (options; the defaults are the paper's), ``seanet`` (time-domain encoder/decoder),
``frequency`` (frequency-domain encoder/decoder), ``quantizer``
(EMA residual VQ), ``discriminator`` (multi-scale STFT), ``losses``, ``model`` (``LauraCodec``).
"""
from __future__ import annotations

from laura_core import hookimpl

from .config import LauraCodecConfig
from .model import LauraCodec

__all__ = ["LauraCodec", "LauraCodecConfig", "SIZES"]

# Named presets; "paper" is the dataclass defaults (57-58M generator parameters, 25 frames/s).
SIZES: dict[str, dict] = {
    # A few tens of thousands of parameters, hop 32 (500 frames/s): CPU tests in seconds.
    "tiny": dict(channels=4, strides=[4, 4, 2], dim=16, lstm_layers=1, n_q=4, codebook_size=64,
                 quantizer_dropout=[1, 2, 4], kmeans_iters=5, disc_n_ffts=[128, 256, 64], disc_filters=4,
                 disc_dilations=[1, 2], mel_windows=[32, 64, 128, 256], n_mels=32),
    # The paper's 25 frames/s and strides at a CPU-demo width: the mini recipe's codec.
    "small": dict(channels=8, dim=64, lstm_layers=1, n_q=8, codebook_size=256, quantizer_dropout=[1, 2, 4, 8],
                  disc_filters=8),
    # The same rates and quantizers in the frequency domain: STFT encoder, inverse-STFT decoder, ConvNeXt
    # blocks at 100 frames/s. Far cheaper per second of audio than SEANet, hence wider; mel windows from 128.
    "small_freq": dict(domain="frequency", dim=64, n_q=8, codebook_size=256, quantizer_dropout=[1, 2, 4, 8],
                       width=192, layers=6, disc_filters=8, mel_windows=[128, 256, 512, 1024, 2048], l1_weight=0.0),
    # Test size of the frequency domain (hop 32, STFT hop 16).
    "tiny_freq": dict(domain="frequency", strides=[4, 4, 2], n_fft=64, stft_hop=16, width=16, layers=1, dim=16,
                      n_q=4, codebook_size=64, quantizer_dropout=[1, 2, 4], kmeans_iters=5,
                      disc_n_ffts=[128, 256, 64], disc_filters=4, disc_dilations=[1, 2],
                      mel_windows=[32, 64, 128, 256], n_mels=32),
    "paper": {},
}


@hookimpl
def register_components(register):
    register("codec", "laura_codec", LauraCodec,
             description="FunCodec-style codec of LauraGPT: SEANet encoder/decoder, EMA residual VQ with "
                         "structured dropout, multi-scale STFT discriminator",
             config=LauraCodecConfig, sizes=SIZES)
