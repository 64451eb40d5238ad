"""The LauraGPT codec: SEANet encoder -> residual VQ -> SEANet decoder, trained with reconstruction,
commitment and multi-scale STFT adversarial losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from laura_core.interfaces import CodecLosses, TrainableCodec

from .config import LauraCodecConfig
from .discriminator import MultiScaleSTFTDiscriminator
from .frequency import ISTFTDecoder, STFTEncoder
from .losses import SpectralLoss, discriminator_hinge, feature_matching, generator_hinge, masked_l1
from .quantizer import QuantizerOutput, ResidualVQ
from .seanet import SEANetDecoder, SEANetEncoder


class LauraCodec(TrainableCodec):
    """See ``laura_core.interfaces.Codec`` for shapes. ``hop_length = prod(config.strides)``."""

    def __init__(self, config: LauraCodecConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else LauraCodecConfig()
        self.sample_rate, self.hop_length = cfg.sample_rate, cfg.hop_length
        self.n_q, self.codebook_size, self.dim = cfg.n_q, cfg.codebook_size, cfg.dim
        time_domain = cfg.domain == "time"
        self.encoder = SEANetEncoder(cfg) if time_domain else STFTEncoder(cfg)
        self.quantizer = ResidualVQ(cfg.dim, cfg.n_q, cfg.codebook_size, cfg.ema_decay, cfg.kmeans_iters,
                                    cfg.dead_code_share, cfg.quantizer_dropout)
        self.decoder = SEANetDecoder(cfg) if time_domain else ISTFTDecoder(cfg)
        self.discriminator = MultiScaleSTFTDiscriminator(cfg.disc_n_ffts, cfg.disc_filters, cfg.disc_growth,
                                                         cfg.disc_max_filters, cfg.disc_dilations)
        self.spectral_loss = SpectralLoss(cfg.sample_rate, cfg.mel_windows, cfg.n_mels)

    # -- Codec ------------------------------------------------------------------------------

    def _pad(self, wav: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``wav [B, 1, S]`` to ``ceil(S / hop) * hop`` samples."""
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise ValueError(f"expected a waveform batch [B, 1, S], got shape {tuple(wav.shape)}")
        return F.pad(wav, (0, self.frames(wav.shape[-1]) * self.hop_length - wav.shape[-1]))

    def encode(self, wav: torch.Tensor, n_q: int | None = None, lengths: torch.Tensor | None = None) -> torch.Tensor:
        frames = None if lengths is None else -(-torch.as_tensor(lengths) // self.hop_length)
        return self.quantizer.encode(self.encoder(self._pad(wav), frames), n_q)

    def embed(self, codes: torch.Tensor, n: int | None = None) -> torch.Tensor:
        if n is not None and not 1 <= n <= codes.shape[1]:
            raise ValueError(f"cannot embed the first {n} groups of codes with {codes.shape[1]} groups")
        return self.quantizer.decode(codes if n is None else codes[:, :n])

    def decode_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        return self.decoder(emb.to(next(self.decoder.parameters()).dtype))

    def quantize(self, wav: torch.Tensor, n_q: int | None = None) -> tuple[QuantizerOutput, torch.Tensor]:
        """Padded ``wav`` -> (quantizer output, latent). In training mode the codebooks learn."""
        z = self.encoder(self._pad(wav))
        return self.quantizer(z, n_q), z

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("discriminator.")}

    # -- training ---------------------------------------------------------------------------

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        disc = list(self.discriminator.parameters())
        ids = {id(p) for p in disc}
        return {"generator": [p for p in self.parameters() if id(p) not in ids], "discriminator": disc}

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor, adversarial: bool = False) -> CodecLosses:
        """``training_losses``: lets a DistributedDataParallel wrapper call the codec."""
        return self.training_losses(wav, lengths, adversarial)

    def training_losses(self, wav: torch.Tensor, lengths: torch.Tensor, adversarial: bool) -> CodecLosses:
        cfg = self.config
        x = self._pad(wav)
        # Samples past a clip's length are zeroed in the target and the output alike, so no loss sees them.
        mask = (torch.arange(x.shape[-1], device=x.device) < lengths.to(x.device)[:, None])[:, None].to(x.dtype)
        x = x * mask
        q = self.quantizer(self.encoder(x))
        y = self.decoder(q.quantized.to(x.dtype)) * mask

        l1 = masked_l1(y, x, mask)
        mel, spec = self.spectral_loss(y, x)
        generator = (cfg.l1_weight * l1 + cfg.mel_weight * mel + cfg.spec_weight * spec
                     + cfg.commit_weight * q.commitment)
        values = {"l1": l1, "mel": mel, "spec": spec, "commit": q.commitment}

        discriminator = None
        if adversarial:
            # The discriminator learns from real audio and the output cut off from the generator ...
            b = x.shape[0]
            logits, features = self.discriminator(torch.cat((x, y.detach())))
            discriminator = discriminator_hinge([lg[:b] for lg in logits], [lg[b:] for lg in logits])
            real_features = [[f[:b].detach() for f in fs] for fs in features]
            # ... and the generator from a discriminator cut off from its own weights, so one backward
            # of (generator + discriminator) gives each part only its own loss's gradient.
            frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
            frozen |= dict(self.discriminator.named_buffers())
            fake_logits, fake_features = functional_call(self.discriminator, frozen, (y,))
            adv, fm = generator_hinge(fake_logits), feature_matching(real_features, fake_features)
            generator = generator + cfg.adv_weight * adv + cfg.fm_weight * fm
            values |= {"adv": adv, "fm": fm, "disc": discriminator}

        values["generator"] = generator
        logged = {k: float(v.detach()) for k, v in values.items()}
        logged["n_q"] = float(q.n_q)
        return CodecLosses(generator, discriminator, logged)
