"""Meta's EnCodec (the ``encodec`` package) as a laura codec: the peer of ``laura_codec`` in the codec benchmark,
added without touching the core.

The 24 kHz model is causal: 1-channel audio, a SEANet encoder with strides 2, 4, 5, 8 (hop 320, 75 frames
per second), a residual vector quantizer of 32 codebooks of 1024 entries in a 128-wide latent, and a SEANet
decoder. The bandwidth fixes how many codebooks are used: 0.75 kbps each (10 bits x 75 Hz), so 1.5, 3, 6,
12 and 24 kbps give 2, 4, 8, 16 and 32.

Lengths: a waveform of ``S`` samples is zero-padded to ``T * 320`` samples, ``T = ceil(S / 320)``, before
encoding (so every strided layer divides exactly and the package pads nothing further), giving ``T`` frames;
decoding ``T`` frames gives exactly ``T * 320`` samples. The model is causal but for one thing: its
convolutions pad on the left by reflection, so the first frames also see a few frames ahead (the last
convolution alone reaches 6 frames). Padding after a clip therefore never changes its codes once the clip
spans at least 7 frames (more than 1920 samples); the first codes of a shorter clip depend on what follows it.

Weights come from a local checkpoint as Meta distributes it (``encodec_24khz-d7cc33bc.th``, a plain state
dict), read with ``torch.load(weights_only=True)`` so a file can never run code; nothing is downloaded.
Without one the weights are random (a fixed seed, so one config always gives the same codec and the same
identity). The package initialises codebooks to zero until k-means on the first training batch, which would
make every code 0, so here each codebook is instead drawn around the latents of a fixed probe signal (mean
plus half their spread, per dimension): codes of random weights are diverse, as tests and smoke runs need.

The 48 kHz model is refused (see ``EncodecConfig``). The codec is not trainable here.
"""
from __future__ import annotations

import math
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from laura_core import hookimpl
from laura_core.errors import ConfigError
from laura_core.interfaces import Codec

# The package's target bandwidths (kbps) per model; each is a whole number of 0.75 kbps codebooks at 24 kHz.
BANDWIDTHS = {"24khz": (1.5, 3.0, 6.0, 12.0, 24.0)}
_REFUSED = {
    "48khz": "EnCodec's 48 kHz model is stereo, cuts audio into overlapping 1-second segments decoded by "
             "overlap-add, and normalises each segment by its loudness, keeping that scale beside the codes "
             "rather than in them. Codes alone therefore neither decode to the right level nor map each frame "
             "to one fixed span of samples, which the Codec interface requires (mono [B, 1, S], "
             "T = ceil(S / hop), T frames -> T * hop samples); use '24khz'",
}
_PROBE_SEED = 0  # random weights and the probe signal their codebooks are drawn around
_PROBE_FRAMES = 75  # one second at 24 kHz
_CODEBOOK_SPREAD = 0.5  # codebook entries: latent mean + this x latent std x N(0, 1), per dimension
_TRAINING_BUFFERS = ("inited", "cluster_size", "embed_avg")  # the quantizer's k-means/EMA state


@dataclass
class EncodecConfig:
    model: str = "24khz"  # "24khz" ("48khz" is refused: see _REFUSED)
    bandwidth: float = 6.0  # kbps, one of the model's target bandwidths: fixes n_q (6 kbps -> 8 codebooks)
    checkpoint: str = ""  # local EnCodec checkpoint, e.g. encodec_24khz-d7cc33bc.th; "" = random weights

    def __post_init__(self) -> None:
        if self.model in _REFUSED:
            raise ConfigError(f"EncodecConfig.model = {self.model!r}: not supported: {_REFUSED[self.model]}")
        if self.model not in BANDWIDTHS:
            raise ConfigError(f"EncodecConfig.model = {self.model!r}: must be one of {', '.join(BANDWIDTHS)}")
        allowed = BANDWIDTHS[self.model]
        if self.bandwidth not in allowed:
            raise ConfigError(f"EncodecConfig.bandwidth = {self.bandwidth!r}: the {self.model} model supports "
                              f"{', '.join(f'{b:g}' for b in allowed)} kbps")


def _build_model(name: str):
    from encodec import EncodecModel

    with warnings.catch_warnings():  # the package builds its convolutions with the legacy weight_norm
        warnings.filterwarnings("ignore", message=".*weight_norm` is deprecated")
        return {"24khz": EncodecModel.encodec_model_24khz}[name](pretrained=False)  # never downloads


def _fit_codebooks(model, generator: torch.Generator) -> None:
    """Draw every codebook around the residual latents of a fixed probe signal, layer after layer."""
    hop = math.prod(model.encoder.ratios)
    envelope = torch.randn(1, 1, _PROBE_FRAMES, generator=generator).exp().repeat_interleave(hop, -1)
    probe = 0.1 * torch.randn(1, 1, _PROBE_FRAMES * hop, generator=generator) * envelope
    with torch.no_grad():
        residual = model.encoder(probe)  # [1, dim, frames]
        for layer in model.quantizer.vq.layers:
            mean, std = residual.mean(dim=(0, 2)), residual.std(dim=(0, 2))
            book = layer.codebook
            book.copy_(mean + _CODEBOOK_SPREAD * std * torch.randn(book.shape, generator=generator))
            layer._codebook.embed_avg.copy_(book)
            layer._codebook.inited.fill_(1.0)
            residual = residual - layer.decode(layer.encode(residual))


def _read_checkpoint(path: str) -> dict[str, torch.Tensor]:
    """The state dict saved with ``torch.save`` in ``path``, read by the weights-only unpickler (never runs code)."""
    where = f"EncodecConfig.checkpoint = {path!r}"
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{where}: no such file" + (" (it is a directory)" if file.is_dir() else ""))
    try:
        with warnings.catch_warnings():  # a foreign pickle protocol: refused below anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # the weights-only unpickler met something other than tensors and data
        boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation")
        detail = [line.strip().removeprefix("WeightsUnpickler error:").strip() for line in str(e).splitlines()
                  if not line.strip().startswith(boilerplate)]
        detail = [line for line in detail if line]
        raise ConfigError(f"{where}: refused: not a PyTorch checkpoint of tensors and plain data "
                          f"({detail[0] if detail else type(e).__name__}); it is read with the weights-only "
                          f"loader, which never runs code from a file") from None
    except Exception as e:  # a truncated or foreign file fails in many ways, all of them a bad checkpoint
        first = str(e).strip().splitlines()[0] if str(e).strip() else "the file ends too early"
        raise ConfigError(f"{where}: not a readable PyTorch checkpoint, corrupt or truncated "
                          f"({type(e).__name__}: {first})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ConfigError(f"{where}: holds a {type(state).__name__}, not a state dict of tensors "
                          f"(an EnCodec checkpoint as Meta distributes it, e.g. encodec_24khz-d7cc33bc.th)")
    return state


def _load_state(model, state: dict[str, torch.Tensor], path: str) -> None:
    """Load ``state`` into ``model``, every key and shape checked first."""
    own = model.state_dict()
    problems = [f"missing key {k!r}" for k in sorted(own.keys() - state.keys())]
    problems += [f"unexpected key {k!r}" for k in sorted(state.keys() - own.keys())]
    problems += [f"key {k!r} has shape {tuple(v.shape)}, the model needs {tuple(own[k].shape)}"
                 for k, v in sorted(state.items()) if k in own and v.shape != own[k].shape]
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ConfigError(f"EncodecConfig.checkpoint = {path!r}: not a checkpoint of this EnCodec model: "
                          f"{'; '.join(problems[:5])}{more}")
    model.load_state_dict(state)


class EncodecCodec(Codec):
    """EnCodec behind the ``Codec`` interface (see the module docstring). ``self.model`` is the package's
    ``EncodecModel``; its encoder, quantizer layers and decoder do all the work."""

    weight_file_options = ("checkpoint",)

    def __init__(self, config: EncodecConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else EncodecConfig()
        shapes_only = torch.empty(0).device.type == "meta"
        state = _read_checkpoint(cfg.checkpoint) if cfg.checkpoint and not shapes_only else None
        generator = torch.Generator().manual_seed(_PROBE_SEED)
        with torch.random.fork_rng(devices=[]):  # fixed random weights, the caller's RNG untouched
            torch.manual_seed(_PROBE_SEED)
            with torch.device("meta" if shapes_only else "cpu"):  # the same weights wherever it is built
                model = _build_model(cfg.model)
                if state is not None:
                    _load_state(model, state, cfg.checkpoint)
                elif not shapes_only:
                    _fit_codebooks(model, generator)
        model.set_target_bandwidth(cfg.bandwidth)
        self.model = model.eval().requires_grad_(False)  # frozen: gradients still reach the inputs

        self.sample_rate = model.sample_rate
        self.hop_length = math.prod(model.encoder.ratios)
        self.n_q = model.quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, cfg.bandwidth)
        self.codebook_size = model.quantizer.bins
        self.dim = model.quantizer.dimension

    def _groups(self, n: int | None, available: int, what: str) -> int:
        n = available if n is None else n
        if not 1 <= n <= min(available, self.n_q):
            raise ValueError(f"{what} = {n}: must be in [1, {min(available, self.n_q)}] "
                             f"(this codec has {self.n_q} groups at {self.config.bandwidth:g} kbps)")
        return n

    def encode(self, wav: torch.Tensor, n_q: int | None = None, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # lengths are not needed: EnCodec's own padding gives items of 7 frames or more their codes alone.
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise ValueError(f"encode expects wav [B, 1, S], got shape {tuple(wav.shape)}")
        n = self._groups(n_q, self.n_q, "n_q")
        batch, samples = wav.shape[0], wav.shape[-1]
        frames = self.frames(samples)
        if frames == 0:
            return torch.zeros(batch, n, 0, dtype=torch.long, device=wav.device)
        dtype = next(self.model.encoder.parameters()).dtype
        wav = F.pad(wav.to(dtype), (0, frames * self.hop_length - samples))
        with torch.no_grad():  # codes are discrete: nothing to differentiate
            latent = self.model.encoder(wav)
            codes = self.model.quantizer.vq.encode(latent, n_q=n)  # [n, B, T]
        assert codes.shape[-1] == frames, (tuple(codes.shape), frames)
        return codes.transpose(0, 1).long()

    def embed(self, codes: torch.Tensor, n: int | None = None) -> torch.Tensor:
        if codes.dim() != 3:
            raise ValueError(f"embed expects codes [B, n, T], got shape {tuple(codes.shape)}")
        n = self._groups(n, codes.shape[1], "n")
        return self.model.quantizer.decode(codes[:, :n].transpose(0, 1).long())  # [B, dim, T]

    def decode_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        if emb.dim() != 3 or emb.shape[1] != self.dim:
            raise ValueError(f"decode_embeddings expects emb [B, {self.dim}, T], got shape {tuple(emb.shape)}")
        batch, frames = emb.shape[0], emb.shape[-1]
        if frames == 0:
            return emb.new_zeros(batch, 1, 0)
        wav = self.model.decoder(emb.to(next(self.model.decoder.parameters()).dtype))
        assert wav.shape[-1] == frames * self.hop_length, (tuple(wav.shape), frames)
        return wav

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoder, the decoder and the first ``n_q`` codebooks; not the quantizer's k-means/EMA state,
        nor codebooks this bandwidth never uses (so each bandwidth has its own identity)."""
        unused = tuple(f"model.quantizer.vq.layers.{i}." for i in range(self.n_q, self.model.quantizer.n_q))
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith(unused) and k.rsplit(".", 1)[-1] not in _TRAINING_BUFFERS}


@hookimpl
def register_components(register):
    register("codec", "encodec", EncodecCodec,
             "Meta's EnCodec 24 kHz (causal, 75 Hz, 1024-entry RVQ codebooks; bandwidth fixes n_q), "
             "weights from a local checkpoint",
             config=EncodecConfig)
