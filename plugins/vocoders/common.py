"""What the codec vocoders share: the config, the condition encoders, the Conformer predictor trunk,
and the codec checks and per-item decoding.

A vocoder is built for one codec: ``n_q``, ``codebook_size``, ``dim`` and the ``sample_rate`` of
audio conditions are config fields the trainer fills from the codec
(``laura_core.model.codec.vocoder_options(codec)``). They are saved with the config, so the vocoder
rebuilds without the codec, and ``loss``/``synthesize`` refuse a codec that does not match.

Padding never reaches real positions: conditions are encoded per modality with padding masks, and
the predictor packs each item's ``[condition ; codes]`` left-aligned, so a padded batch gives each
item the output it gets alone.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import Codec, Vocoder
from laura_plugins.encoders.conformer import (
    ConformerBlock, ConformerConfig, ConformerEncoder, lengths_mask, rope_tables,
)

# Size presets of both vocoders (same width/depth budget).
SIZES = {
    "tiny": dict(d_model=32, n_heads=2, ffn_dim=64, n_layers=2, cond_layers=1, conv_kernel=5, n_mels=32,
                 dropout=0.0),
    # The mini recipe's: a tiny one does not learn what the residual groups add (it voiced the mini tts
    # test set worse than the first group alone).
    "small": dict(d_model=128, n_heads=4, ffn_dim=512, n_layers=4, cond_layers=2, conv_kernel=7, n_mels=64,
                  dropout=0.0),
    # LauraTTS: 6 Conformer blocks, 512 wide, 8 heads, FFN 2048 (its text encoder has 6 blocks too)
    "paper": dict(d_model=512, n_heads=8, ffn_dim=2048, n_layers=6, cond_layers=6, conv_kernel=15, n_mels=80,
                  dropout=0.1),
}


@dataclass
class VocoderConfig:
    """Options of both vocoders. The codec fields are 0 until filled from the codec; the model refuses
    to build without them (``require_codec_fields``), so nothing about the codec is assumed."""

    # -- from the codec (the trainer fills them: ``laura_core.model.codec.vocoder_options(codec)``); 0 = not set --
    n_q: int = 0  # quantizer groups
    codebook_size: int = 0  # codes per quantizer group
    dim: int = 0  # width of the codec's (summed) embeddings
    sample_rate: int = 0  # rate of audio conditions (the codec's rate); needed only with audio_conditions
    # -- conditions --
    text_vocab_size: int = 0  # the LM tokenizer's ids (TTS conditions); 0 = no text conditions
    audio_conditions: bool = True  # waveform conditions (SE's noisy speech): log-mel + subsampling + layers
    # A voice prompt's sound after the condition (zero-shot tts): the codec's summed embeddings of a
    # recording in the target's voice, so the residual groups can take its timbre (training: data.prompt)
    prompt_context: bool = False
    cond_layers: int = 1  # Conformer blocks of the text encoder, and of the audio condition encoder
    n_mels: int = 80
    subsampling: int = 4  # audio conditions: 100 Hz features -> 25 Hz (the paper codec's frame rate)
    # -- the predictor --
    d_model: int = 32
    n_heads: int = 2
    ffn_dim: int = 64
    n_layers: int = 2
    conv_kernel: int = 5
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_q", "codebook_size", "dim", "sample_rate", "text_vocab_size"):
            self._check(getattr(self, name) >= 0, name, "must not be negative (0 = not set)")
        for name in ("cond_layers", "d_model", "n_heads", "ffn_dim", "n_layers", "n_mels"):
            self._check(getattr(self, name) > 0, name, "must be positive")
        self._check(self.d_model % self.n_heads == 0 and self.d_model // self.n_heads % 2 == 0, "n_heads",
                    f"must divide d_model ({self.d_model}) into heads of even width (rotary embeddings)")
        self._check(self.conv_kernel > 0 and self.conv_kernel % 2 == 1, "conv_kernel", "must be odd and positive")
        self._check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        self._check(self.subsampling in (4, 8, 16), "subsampling", "must be 4, 8 or 16")
        self._check(self.text_vocab_size > 0 or self.audio_conditions, "audio_conditions",
                    "must be true when text_vocab_size is 0 (the vocoder needs some condition)")

    def _check(self, ok: bool, name: str, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{type(self).__name__}.{name} = {getattr(self, name)!r}: {rule}")

    def codec_fields(self) -> tuple[str, ...]:
        """The fields that must equal the codec's."""
        return ("n_q", "codebook_size", "dim") + (("sample_rate",) if self.audio_conditions else ())

    def require_codec_fields(self) -> None:
        """Building the model needs the codec's numbers: refuse a config where they are still 0."""
        for name in self.codec_fields():
            self._check(getattr(self, name) > 0, name, "is not set: fill it from the codec "
                        "(laura_core.model.codec.vocoder_options(codec))")

    def block_config(self, n_layers: int) -> ConformerConfig:
        return ConformerConfig(d_model=self.d_model, n_heads=self.n_heads, ffn_dim=self.ffn_dim, n_layers=n_layers,
                               conv_kernel=self.conv_kernel, dropout=self.dropout)


class ConformerStack(nn.Module):
    """Non-causal Conformer blocks (the encoder plugin's) over ``[B, T, D]`` with a padding mask."""

    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        self.head_dim = cfg.d_model // cfg.n_heads
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.n_layers))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        x = nn.functional.pad(x, (0, 0, 0, max(0, 1 - t)))  # the depthwise convolution needs one position
        # An empty item attends to its first (padding) position: attending to nothing would give NaN.
        valid = lengths_mask(lengths.clamp_min(1), x.shape[1])
        rope = rope_tables(x.shape[1], self.head_dim, x.device, x.dtype)
        for block in self.blocks:
            x = block(x, valid, rope)
        return x[:, :t]


class ConditionEncoder(nn.Module):
    """Per item text ids ``[N]`` or a waveform ``[S]`` -> a padded condition batch ``[B, C, d_model]``.

    Text: embedding + Conformer blocks (the text encoder). Audio: the Conformer encoder plugin
    (log-mel, Conv2d subsampling, blocks, adapter) at the vocoder width. Each modality is encoded as one
    sub-batch, so mixed batches cost two encoder calls. With ``prompt_context``, an item's voice prompt
    (codec embeddings ``[dim, P]``) follows its condition, projected to the vocoder width.
    """

    def __init__(self, cfg: VocoderConfig):
        super().__init__()
        self.d_model = cfg.d_model
        self.text_embed = self.text_encoder = self.audio_encoder = None
        if cfg.text_vocab_size:
            self.text_embed = nn.Embedding(cfg.text_vocab_size, cfg.d_model)
            self.text_encoder = ConformerStack(cfg.block_config(cfg.cond_layers))
        if cfg.audio_conditions:
            self.audio_encoder = ConformerEncoder(ConformerConfig(
                sample_rate=cfg.sample_rate, n_mels=cfg.n_mels, d_model=cfg.d_model, n_heads=cfg.n_heads,
                ffn_dim=cfg.ffn_dim, n_layers=cfg.cond_layers, conv_kernel=cfg.conv_kernel, dropout=cfg.dropout,
                subsampling=cfg.subsampling, output_dim=cfg.d_model))
        self.prompt_in = nn.Linear(cfg.dim, cfg.d_model) if cfg.prompt_context else None

    def forward(self, text: list, wav: list, prompt: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if len(text) != len(wav):
            raise DataError(f"condition_features: {len(text)} text items but {len(wav)} waveform items")
        weight = next(self.parameters())
        device, batch = weight.device, len(text)
        text_items = [i for i, t in enumerate(text) if t is not None]
        wav_items = [i for i, w in enumerate(wav) if w is not None]
        if both := set(text_items) & set(wav_items):
            raise DataError(f"condition_features: items {sorted(both)} have both text and a waveform; give one")
        if text_items and self.text_encoder is None:
            raise DataError(f"condition_features: items {text_items} are text, but this vocoder has no text "
                            f"encoder (text_vocab_size = 0)")
        if wav_items and self.audio_encoder is None:
            raise DataError(f"condition_features: items {wav_items} are audio, but this vocoder has no audio "
                            f"encoder (audio_conditions = false)")

        # In training every encoder runs, on a dummy input with weight 0 where the batch lacks its
        # modality: all parameters get gradients on every rank (DDP without unused-parameter search,
        # FSDP collectives in step).
        encoded, unused = [], weight.new_zeros(())  # (item indices, embeddings [b, C', D], lengths [b])
        if text_items or (self.training and self.text_encoder is not None):
            ids = [torch.as_tensor(text[i], dtype=torch.long, device=device).reshape(-1) for i in text_items]
            ids = ids or [torch.zeros(1, dtype=torch.long, device=device)]
            lengths = torch.tensor([len(x) for x in ids], device=device)
            emb = self.text_encoder(self.text_embed(nn.utils.rnn.pad_sequence(ids, batch_first=True)), lengths)
            if text_items:
                encoded.append((text_items, emb, lengths))
            else:
                unused = unused + emb.sum()
        if wav_items or (self.training and self.audio_encoder is not None):
            waves = [torch.as_tensor(wav[i], device=device).reshape(-1).float() for i in wav_items]
            waves = waves or [torch.zeros(self.audio_encoder.sample_rate // 10, device=device)]  # 0.1 s silence
            lengths = torch.tensor([len(x) for x in waves], device=device)
            emb, emb_lengths = self.audio_encoder(nn.utils.rnn.pad_sequence(waves, batch_first=True), lengths)
            if wav_items:
                encoded.append((wav_items, emb, emb_lengths))
            else:
                unused = unused + emb.sum()

        # Items with neither condition get an empty one (length 0).
        cond_lengths = torch.zeros(batch, dtype=torch.long, device=device)
        for items, _, lengths in encoded:
            cond_lengths[items] = lengths
        width = int(cond_lengths.max()) if batch else 0
        cond = weight.new_zeros(batch, width, self.d_model) + 0.0 * unused
        for items, emb, lengths in encoded:
            emb = emb[:, :width]
            # .to: under autocast (validation of a bf16 LM run) the encoders give bf16, the buffer is fp32.
            cond[items, : emb.shape[1]] = emb.masked_fill(~lengths_mask(lengths, emb.shape[1])[..., None], 0.0).to(cond.dtype)
        if self.prompt_in is not None:
            cond, cond_lengths = self._with_prompts(cond, cond_lengths, prompt or [None] * batch)
        return cond, cond_lengths

    def _with_prompts(self, cond: torch.Tensor, lengths: torch.Tensor, prompt: list) -> tuple[torch.Tensor, torch.Tensor]:
        """Each item's prompt frames right after its own condition frames (left-aligned, as the rest)."""
        if len(prompt) != cond.shape[0]:
            raise DataError(f"condition_features: {len(prompt)} prompts for {cond.shape[0]} items")
        frames = [None if p is None else self.prompt_in(p.T.to(cond.device, self.prompt_in.weight.dtype))
                  for p in prompt]
        if all(f is None for f in frames):  # training: the projection still joins the graph (DDP)
            unused = sum(p.sum() for p in self.prompt_in.parameters())
            return cond + 0.0 * unused if self.training else cond, lengths
        added = torch.tensor([0 if f is None else len(f) for f in frames], device=cond.device)
        out = cond.new_zeros(cond.shape[0], int((lengths + added).max()), cond.shape[2])
        out[:, : cond.shape[1]] = cond
        for i, f in enumerate(frames):
            if f is not None:
                start = int(lengths[i])
                out[i, start: start + len(f)] = f.to(out.dtype)
        return out, lengths + added


class Predictor(nn.Module):
    """``[condition ; inputs]`` per item -> Conformer blocks -> hidden states at the input positions.

    Each item's sequence is its real condition frames directly followed by its real input frames,
    left-aligned, so positions and convolution neighbourhoods do not depend on the batch's padding.
    A learned segment vector tells condition from input positions.
    """

    def __init__(self, cfg: VocoderConfig):
        super().__init__()
        self.segment = nn.Embedding(2, cfg.d_model)
        self.blocks = ConformerStack(cfg.block_config(cfg.n_layers))

    def forward(self, cond: torch.Tensor, cond_lengths: torch.Tensor, x: torch.Tensor,
                x_lengths: torch.Tensor) -> torch.Tensor:
        """``cond [B, C, D]``, ``x [B, T, D]`` -> hidden ``[B, T, D]`` (padded positions unspecified)."""
        b, c, d = cond.shape
        t = x.shape[1]
        total = cond_lengths + x_lengths
        length = max(int(total.max()) if b else 0, 1)
        src = torch.cat([cond.to(x.dtype) + self.segment.weight[0], x + self.segment.weight[1]], 1)
        src = nn.functional.pad(src, (0, 0, 0, 1))  # a zero row for the positions past each item's end
        pos = torch.arange(length, device=x.device)[None]
        index = torch.where(pos < cond_lengths[:, None], pos, c + pos - cond_lengths[:, None])
        index = index.masked_fill(pos >= total[:, None], c + t)
        seq = src.gather(1, index[..., None].expand(-1, -1, d))
        h = self.blocks(seq, total)
        out = (cond_lengths[:, None] + torch.arange(t, device=x.device)[None]).clamp(max=length - 1)
        return h.gather(1, out[..., None].expand(-1, -1, d))


def codec_dtype(codec: Codec) -> torch.dtype:
    return next((p.dtype for p in codec.parameters() if p.is_floating_point()), torch.float32)


class CodecVocoder(Vocoder):
    """Shared parts of the vocoders: condition features, codec checks, per-length decoding."""

    config: VocoderConfig

    def __init__(self, config: VocoderConfig):
        super().__init__()
        config.require_codec_fields()
        self.config = config
        self.conditions = ConditionEncoder(config)
        self.predictor = Predictor(config)

    @property
    def takes_prompt(self) -> bool:
        return self.config.prompt_context

    def condition_features(self, text: list, wav: list, prompt: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conditions(text, wav, prompt)

    def check_codec(self, codec: Codec) -> None:
        """Refuse a codec other than the one this vocoder was built for."""
        cfg = self.config
        wrong = [f"{name} {getattr(cfg, name)} (codec: {getattr(codec, name)})"
                 for name in cfg.codec_fields() if getattr(cfg, name) != getattr(codec, name)]
        if wrong:
            raise ConfigError(f"{type(cfg).__name__} was built for another codec: {', '.join(wrong)}")

    def check_codes(self, codes: torch.Tensor, code_lengths: torch.Tensor) -> torch.Tensor:
        """First-group codes ``[B, T]`` with padding set to 0 (padding may hold any value, e.g. -1)."""
        if codes.dim() != 2:
            raise DataError(f"codes must be [B, T] first-group codes, got shape {tuple(codes.shape)}")
        return codes.masked_fill(~lengths_mask(code_lengths, codes.shape[1]), 0)

    @staticmethod
    def decode_items(codec: Codec, x: torch.Tensor, lengths: torch.Tensor,
                     decode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``decode`` each item of ``x [B, *, T]`` at its own length (the codec decoder is not
        padding-aware), items of equal length together; padding frames give silence."""
        b, t = x.shape[0], x.shape[-1]
        wav = torch.zeros(b, 1, t * codec.hop_length, dtype=codec_dtype(codec), device=x.device)
        for n in lengths.unique().tolist():
            if n > 0:
                items = (lengths == n).nonzero().squeeze(1)
                wav[items, :, : n * codec.hop_length] = decode(x[items, ..., :n]).to(wav.dtype)
        return wav
