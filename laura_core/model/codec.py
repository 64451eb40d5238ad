"""Codec directories, codec identity, and the choice of a codec by name or by trained directory.

A codec directory is what every consumer of a codec reads (``laura codec encode/decode``, LM and
vocoder training, synthesis):

    codec.yaml          {name, options}: the registry name and its full options
    codec.safetensors   the weights encoding and decoding use (``Codec.inference_state_dict``)
    codec.json          {"identity": "<name>-<hash of the weights>", sample_rate, hop_length, n_q, codebook_size, dim}

A codec training checkpoint is such a directory too. The identity travels with everything made
from the codec (the codes in manifests, LM and vocoder checkpoints), so codes are never paired with
another codec than the one that made them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from laura_core.config import to_dict
from laura_core.errors import ConfigError
from laura_core.interfaces import Codec
from laura_core.io import atomic_write_bytes, atomic_write_text, write_json

if TYPE_CHECKING:
    from laura_core.registry import Registry

CODEC_CONFIG = "codec.yaml"
CODEC_WEIGHTS = "codec.safetensors"
CODEC_INFO = "codec.json"


@dataclass
class CodecSpec:
    """Which codec: a trained codec directory (``path``), or a registry ``name`` with a ``size`` preset
    and ``options`` (a codec to train, or one that needs no training)."""

    path: str = ""
    name: str = ""
    size: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def given(self) -> bool:
        return bool(self.path or self.name)


def weights_hash(state: dict[str, torch.Tensor]) -> str:
    """A content hash of a state dict: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]


def codec_identity(name: str, codec: Codec) -> str:
    return f"{name}-{weights_hash(codec.inference_state_dict())}"


def save_codec(codec: Codec, name: str, options: dict[str, Any], directory: str | Path,
               state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write a codec directory (each file atomically); ``state`` overrides the codec's own inference weights.
    Options naming weight files (``Codec.weight_file_options``) are recorded empty: the directory's own
    weights replace them, so it loads after the original checkpoint is moved or deleted."""
    from omegaconf import OmegaConf
    from safetensors.torch import save

    directory = Path(directory)
    weights = {k: v.detach().cpu().contiguous() for k, v in (state or codec.inference_state_dict()).items()}
    atomic_write_bytes(directory / CODEC_WEIGHTS, save(weights))
    options = {k: ("" if k in codec.weight_file_options else v) for k, v in options.items()}
    atomic_write_text(directory / CODEC_CONFIG, OmegaConf.to_yaml({"name": name, "options": options}))
    write_json(directory / CODEC_INFO, {
        "identity": f"{name}-{weights_hash(weights)}", "sample_rate": codec.sample_rate,
        "hop_length": codec.hop_length, "n_q": codec.n_q, "codebook_size": codec.codebook_size, "dim": codec.dim})
    return directory


def load_codec(directory: str | Path, registry: "Registry") -> tuple[Codec, str]:
    """The codec of a codec directory, frozen and in eval mode, and its identity. Weights are checked
    against the recorded identity, so a codec file swapped behind a model's back is refused."""
    from omegaconf import OmegaConf
    from safetensors.torch import load_file

    directory = Path(directory)
    for required in (CODEC_CONFIG, CODEC_WEIGHTS, CODEC_INFO):
        if not (directory / required).is_file():
            raise ConfigError(f"{directory} is not a codec directory: {required} is missing "
                              f"(train one with `laura train` kind codec, or `laura codec export`)")
    spec = OmegaConf.to_container(OmegaConf.load(directory / CODEC_CONFIG))
    codec = registry.create("codec", spec["name"], **spec.get("options", {}))
    try:
        weights = load_file(str(directory / CODEC_WEIGHTS))
    except Exception as e:  # safetensors raises several types for damaged files
        raise ConfigError(f"{directory / CODEC_WEIGHTS}: unreadable ({e})") from None
    recorded = json.loads((directory / CODEC_INFO).read_text())["identity"]
    identity = f"{spec['name']}-{weights_hash(weights)}"
    if identity != recorded:
        raise ConfigError(f"{directory / CODEC_WEIGHTS}: its weights hash to {identity}, "
                          f"but {CODEC_INFO} records {recorded}")
    missing, unexpected = codec.load_state_dict(weights, strict=False)
    expected = set(codec.inference_state_dict())
    if set(missing) & expected or unexpected:
        raise ConfigError(f"{directory / CODEC_WEIGHTS}: does not fit codec {spec['name']!r} "
                          f"(missing {sorted(set(missing) & expected)[:3]}, unexpected {unexpected[:3]})")
    return codec.eval().requires_grad_(False), identity


def release_codec(src: str | Path, dst: str | Path, registry: "Registry", dtype: torch.dtype = torch.float16) -> str:
    """Copy codec directory ``src`` to ``dst`` with its floating weights cast to ``dtype`` (half the size
    in float16, for a codec shipped with a recipe); returns the new identity. Loading casts back."""
    from omegaconf import OmegaConf

    codec, _ = load_codec(src, registry)
    spec = OmegaConf.to_container(OmegaConf.load(Path(src) / CODEC_CONFIG))
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in codec.inference_state_dict().items()}
    save_codec(codec, spec["name"], spec.get("options", {}), dst, state)
    return json.loads((Path(dst) / CODEC_INFO).read_text())["identity"]


def vocoder_options(codec: Codec, text_vocab_size: int = 0) -> dict[str, int]:
    """The options every vocoder gets from the codec it serves (and from the LM's tokenizer, for text
    conditions): a vocoder never takes these numbers from its own config."""
    return {"n_q": codec.n_q, "codebook_size": codec.codebook_size, "dim": codec.dim,
            "sample_rate": codec.sample_rate, "text_vocab_size": text_vocab_size}


def build_codec(spec: CodecSpec, registry: "Registry") -> tuple[Codec, str]:
    """The codec ``spec`` names, and its identity: a trained directory, or built from the registry."""
    if spec.path:
        return load_codec(spec.path, registry)
    if not spec.name:
        raise ConfigError("no codec given: set codec.path (a codec directory) or codec.name")
    codec = registry.create("codec", spec.name, spec.size, **spec.options)
    return codec, codec_identity(spec.name, codec)


def resolved_options(spec: CodecSpec, registry: "Registry") -> dict[str, Any]:
    """The full options of a named codec (its size preset expanded), as saved in codec.yaml."""
    return to_dict(registry.component_config("codec", spec.name, spec.size, **spec.options))
