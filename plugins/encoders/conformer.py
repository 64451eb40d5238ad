"""LauraGPT's audio encoder: log-mel filterbank -> Conv2d subsampling -> Conformer blocks -> adapter.

As in the LauraGPT paper, the convolution module normalises with LayerNorm instead of BatchNorm
(BatchNorm made decoding loop endlessly). Self-attention uses rotary position embeddings, so
positions are relative and there is no length limit.

Lengths are exact and padding never leaks into real frames: a waveform of ``S`` samples gives
``F = S // hop`` feature frames (frame ``t`` is the window centred on the hop ``[t*hop, (t+1)*hop)``)
and ``ceil(F / subsampling)`` embeddings; a padded batch gives each item the outputs it gets alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from laura_core import hookimpl
from laura_core.errors import ConfigError
from laura_core.interfaces import AudioEncoder


@dataclass
class ConformerConfig:
    sample_rate: int = 16000
    n_mels: int = 80
    frame_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # feature frame rate: 100 Hz
    cmvn: bool = True  # per-utterance mean/variance normalisation over the real frames
    d_model: int = 64
    n_heads: int = 4
    ffn_dim: int = 256
    n_layers: int = 2
    conv_kernel: int = 15  # depthwise convolution width, odd so it is centred
    dropout: float = 0.1
    subsampling: int = 4  # 4, 8 or 16: embeddings at 25, 12.5 or 6.25 Hz
    output_dim: int = 64  # the GPT width; the model assembly sets it
    pretrained: str = ""  # safetensors state dict to start from, e.g. an ASR-trained encoder

    def __post_init__(self) -> None:
        def check(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ConfigError(f"ConformerConfig.{name} = {getattr(self, name)!r}: {rule}")

        for name in ("sample_rate", "n_mels", "frame_ms", "hop_ms", "d_model", "n_heads", "ffn_dim", "n_layers",
                     "output_dim"):
            check(getattr(self, name) > 0, name, "must be positive")
        check(self.hop_ms <= self.frame_ms, "hop_ms", f"must not exceed frame_ms ({self.frame_ms})")
        check(self.d_model % self.n_heads == 0 and self.d_model // self.n_heads % 2 == 0, "n_heads",
              f"must divide d_model ({self.d_model}) into heads of even width (rotary embeddings)")
        check(self.conv_kernel > 0 and self.conv_kernel % 2 == 1, "conv_kernel", "must be odd and positive")
        check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        check(self.subsampling in (4, 8, 16), "subsampling", "must be 4, 8 or 16")


def lengths_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, size]`` bool, True at the real positions of each item."""
    return torch.arange(size, device=lengths.device) < lengths[:, None]


def rope_tables(length: int, head_dim: int, device: torch.device, dtype: torch.dtype
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary cos/sin ``[length, head_dim / 2]`` for positions ``0..length-1``, as the blocks take them."""
    half = head_dim // 2
    inv_freq = 10000.0 ** -(torch.arange(half, device=device) / half)
    angles = torch.arange(length, device=device)[:, None] * inv_freq
    return angles.cos().to(dtype), angles.sin().to(dtype)


class Subsampling(nn.Module):
    """Stacked Conv2d(3x3, stride 2, padding 1) + ReLU over (time, mel), each halving the frame rate,
    then a projection to ``d_model``. Padded frames are zeroed after every layer so that at an item's
    edge a layer sees the same zeros as the item's own padding would give alone."""

    def __init__(self, n_mels: int, d_model: int, layers: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else d_model, d_model, 3, 2, 1) for i in range(layers))
        freq = n_mels
        for _ in range(layers):
            freq = (freq + 1) // 2
        self.proj = nn.Linear(d_model * freq, d_model)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.unsqueeze(1)  # [B, 1, F, n_mels]
        for conv in self.convs:
            x, lengths = F.relu(conv(x)), (lengths + 1) // 2
            x = x.masked_fill(~lengths_mask(lengths, x.shape[2])[:, None, :, None], 0.0)
        b, c, t, f = x.shape
        return self.proj(x.transpose(1, 2).reshape(b, t, c * f)), lengths


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of ``x [B, H, T, Dh]`` (cos/sin ``[T, Dh/2]``)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            _rotate(q, *rope), _rotate(k, *rope), v, attn_mask=valid[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv, LayerNorm (the paper's replacement for BatchNorm), SiLU,
    pointwise conv. Pointwise convolutions are per-frame linear layers."""

    def __init__(self, d_model: int, kernel: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Linear(d_model, 2 * d_model)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        self.depthwise_norm = nn.LayerNorm(d_model)
        self.pointwise_out = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = F.glu(self.pointwise_in(self.norm(x)), dim=-1)
        x = x.masked_fill(~valid[..., None], 0.0)  # padded frames would leak into real ones through the kernel
        x = self.depthwise(x.transpose(1, 2)).transpose(1, 2)
        return self.drop(self.pointwise_out(F.silu(self.depthwise_norm(x))))


def _feed_forward(d_model: int, ffn_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(d_model), nn.Linear(d_model, ffn_dim), nn.SiLU(), nn.Dropout(dropout),
        nn.Linear(ffn_dim, d_model), nn.Dropout(dropout),
    )


class ConformerBlock(nn.Module):
    """Half FFN, self-attention, convolution module, half FFN (macaron), each residual; final LayerNorm."""

    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        self.ffn1 = _feed_forward(cfg.d_model, cfg.ffn_dim, cfg.dropout)
        self.attn_norm = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.conv = ConvModule(cfg.d_model, cfg.conv_kernel, cfg.dropout)
        self.ffn2 = _feed_forward(cfg.d_model, cfg.ffn_dim, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + 0.5 * self.ffn1(x)
        x = x + self.attn_drop(self.attn(self.attn_norm(x), valid, rope))
        x = x + self.conv(x, valid)
        x = x + 0.5 * self.ffn2(x)
        return self.norm(x)


class ConformerEncoder(AudioEncoder):
    """Waveforms ``[B, S]`` -> embeddings ``[B, T, output_dim]`` (see the module docstring)."""

    def __init__(self, config: ConformerConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else ConformerConfig()
        self.sample_rate, self.output_dim = cfg.sample_rate, cfg.output_dim
        self.frame = round(cfg.sample_rate * cfg.frame_ms / 1000)
        self.hop = round(cfg.sample_rate * cfg.hop_ms / 1000)
        # Fixed analysis buffers stay out of the state dict (checkpoints hold only learned weights);
        # features() computes in float32 whatever dtype the module is cast to.
        # Computed on the CPU even when the model is built on the meta device (shape-only builds).
        with torch.device("cpu"):
            window = torch.hann_window(self.frame, periodic=False)
            mel = torchaudio.functional.melscale_fbanks(
                self.frame // 2 + 1, 20.0, cfg.sample_rate / 2, cfg.n_mels, cfg.sample_rate, mel_scale="htk")
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel_fb", mel, persistent=False)

        self.subsample = Subsampling(cfg.n_mels, cfg.d_model, int(math.log2(cfg.subsampling)))
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.n_layers))
        self.adapter = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.output_dim), nn.GELU(), nn.Linear(cfg.output_dim, cfg.output_dim))
        if cfg.pretrained:
            self.load_pretrained(cfg.pretrained)

    def features(self, wav: torch.Tensor, wav_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel filterbank ``[B, F, n_mels]`` with ``F = wav_lengths // hop``; padded frames are zero."""
        lengths = wav_lengths // self.hop
        left = (self.frame - self.hop) // 2  # centres frame t on hop t
        right = max(self.frame - self.hop - left, self.frame - left - wav.shape[1])  # at least one frame
        with torch.autocast(wav.device.type, enabled=False):  # log-mels in float32 even under autocast
            wav = wav.float().masked_fill(~lengths_mask(wav_lengths, wav.shape[1]), 0.0)
            frames = F.pad(wav, (left, right)).unfold(1, self.frame, self.hop)
            power = torch.fft.rfft(frames * self.window.float(), dim=-1).abs().square()
            feats = (power @ self.mel_fb.float()).clamp_min(1e-10).log()[:, : int(lengths.max())]
            valid = lengths_mask(lengths, feats.shape[1])[..., None]
            if self.config.cmvn:
                n = lengths.clamp_min(1)[:, None, None]
                mean = feats.masked_fill(~valid, 0.0).sum(1, keepdim=True) / n
                var = (feats - mean).masked_fill(~valid, 0.0).square().sum(1, keepdim=True) / n
                feats = (feats - mean) * (var + 1e-5).rsqrt()
            return feats.masked_fill(~valid, 0.0), lengths

    def encode(self, feats: torch.Tensor, feat_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = F.pad(feats, (0, 0, 0, max(0, 1 - feats.shape[1])))  # the convolutions need one frame
        feats = feats.to(self.subsample.proj.weight.dtype)
        feats = feats.masked_fill(~lengths_mask(feat_lengths, feats.shape[1])[..., None], 0.0)
        x, lengths = self.subsample(feats, feat_lengths)
        # An empty item attends to its first (padding) frame: attending to nothing would give NaN.
        valid = lengths_mask(lengths.clamp_min(1), x.shape[1])
        rope = rope_tables(x.shape[1], self.config.d_model // self.config.n_heads, x.device, x.dtype)
        for block in self.blocks:
            x = block(x, valid, rope)
        return x[:, : int(lengths.max())], lengths

    def adapt(self, hidden: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.adapter(hidden), lengths

    def output_lengths(self, wav_lengths: torch.Tensor) -> torch.Tensor:
        s = self.config.subsampling
        return (wav_lengths // self.hop + s - 1) // s

    def load_pretrained(self, path: str) -> None:
        """Load weights from a safetensors state dict. Every encoder weight must be there; the adapter
        may be absent (an ASR-trained encoder has none for this GPT width) and then stays fresh."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(path)
        except (OSError, SafetensorError) as e:
            raise ConfigError(f"ConformerConfig.pretrained = {path!r}: cannot read it: {e}") from None
        own = self.state_dict()
        adapter = {k for k in own if k.startswith("adapter.")}
        optional = set() if adapter & state.keys() else adapter
        problems = [f"missing key {k!r}" for k in sorted(own.keys() - state.keys() - optional)]
        problems += [f"unexpected key {k!r}" for k in sorted(state.keys() - own.keys())]
        problems += [f"key {k!r} has shape {tuple(v.shape)}, the config needs {tuple(own[k].shape)}"
                     for k, v in state.items() if k in own and v.shape != own[k].shape]
        if problems:
            more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
            raise ConfigError(f"ConformerConfig.pretrained = {path!r}: {'; '.join(problems[:5])}{more}")
        self.load_state_dict(state, strict=False)


@hookimpl
def register_components(register):
    register("encoder", "conformer", ConformerEncoder,
             "Conformer audio encoder (log-mel, LayerNorm conv module, adapter to the GPT width)",
             config=ConformerConfig)
