"""The Qwen2 / Qwen2.5 decoder as a ``backbone``: plain PyTorch, and reads and writes Hugging Face
checkpoints (``config.json`` + safetensors), so a released Qwen2 model can start LauraGPT training.

One decoder layer is RMSNorm -> grouped-query attention with rotary positions -> residual, then
RMSNorm -> SwiGLU MLP -> residual; a final RMSNorm feeds the (tied or untied) output head.
Parameter names are Hugging Face's without the ``model.`` prefix.
"""
from __future__ import annotations

import contextlib
import functools
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks

from laura_core import hookimpl
from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import Backbone, KVCache
from laura_core.io import write_json

from . import decode_kernel

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
INIT_STD = 0.02  # Hugging Face's initializer_range: new weights, vocabulary rows included, are N(0, INIT_STD)


@dataclass
class Qwen2Config:
    """Architecture (Hugging Face ``Qwen2Config`` field names) and loading options. Defaults are a tiny model."""

    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 32768  # recorded in config.json; positions are not limited by it
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True
    pretrained: str = ""  # a Hugging Face checkpoint directory: its config.json replaces the fields above
    dtype: str = "float32"  # float32 | bfloat16 | float16

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "max_position_embeddings"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Qwen2Config.{name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"Qwen2Config.hidden_size ({self.hidden_size}) must be divisible by "
                              f"num_attention_heads ({self.num_attention_heads})")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError(f"Qwen2Config.num_attention_heads ({self.num_attention_heads}) must be divisible by "
                              f"num_key_value_heads ({self.num_key_value_heads})")
        if self.head_dim % 2:
            raise ConfigError(f"Qwen2Config: rotary embeddings need an even head width, got {self.head_dim} "
                              f"(hidden_size / num_attention_heads)")
        if self.dtype not in DTYPES:
            raise ConfigError(f"Qwen2Config.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


# -- the model --------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 (half-precision squares overflow), scale in the input dtype as Qwen2 does.
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def inverse_frequencies(head_dim: int, theta: float, device: torch.device | None = None) -> torch.Tensor:
    """The rotation speed ``[Dh / 2]`` of each pair of dimensions."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim
    return 1.0 / theta**exponents


def rotary(position_ids: torch.Tensor, head_dim: int, theta: float,
           dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[B, 1, T, Dh]`` of the rotation angles at ``position_ids`` ``[B, T]``."""
    angles = position_ids[..., None].float() * inverse_frequencies(head_dim, theta, position_ids.device)
    angles = torch.cat([angles, angles], dim=-1)[:, None]
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (i, i + Dh/2) of ``x`` ``[B, H, T, Dh]`` (the "rotate half" layout of Qwen2 checkpoints)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


def attention_bias(key_mask: torch.Tensor, length: int, groups: int, dtype: torch.dtype) -> torch.Tensor:
    """Key mask ``[B, P + T]`` -> additive attention mask ``[B, 1, G * T, P + T]`` (0 or -inf) of the last
    ``length`` queries: causal and key padding, each query's row repeated for the ``groups`` query heads
    that share a key/value head (see ``Attention``). O(T * (P + T)): a decode step builds one row."""
    total = key_mask.shape[1]
    keys = torch.arange(total, device=key_mask.device)
    queries = keys[total - length:, None]
    # A left-padding query has no real key before it; letting it see itself keeps its softmax finite.
    allowed = (key_mask[:, None, :] & (keys <= queries)) | (keys == queries)
    # Built as floats once for all layers: SDPA would convert a boolean mask in every layer and, when
    # training, keep each copy for the backward pass.
    bias = torch.zeros(allowed.shape, dtype=dtype, device=key_mask.device).masked_fill_(~allowed, float("-inf"))
    return bias[:, None].repeat(1, 1, groups, 1)


class Attention(nn.Module):
    def __init__(self, config: Qwen2Config):
        super().__init__()
        self.n_heads, self.n_kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, self.n_heads * self.head_dim)
        self.k_proj = nn.Linear(config.hidden_size, self.n_kv_heads * self.head_dim)
        self.v_proj = nn.Linear(config.hidden_size, self.n_kv_heads * self.head_dim)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor,
                cache: KVCache | None, layer: int) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        # Grouped-query attention without copying keys/values: the query heads sharing a kv head become
        # one longer query sequence of that head. (SDPA's enable_gqa falls back to its quadratic-memory
        # math kernel on GPU whenever a mask is given, and a mask is always given here.)
        q = q.reshape(b, self.n_kv_heads, -1, self.head_dim)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(y.reshape(b, self.n_heads, t, self.head_dim).transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, config: Qwen2Config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: Qwen2Config):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor,
                cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


# -- inference weights ---------------------------------------------------------------------
#
# A decode step streams every weight matrix from memory once, so it is bound by memory bandwidth
# and, at these sizes, by the number of small ops per layer (~30 besides the matmuls, microseconds
# each). For inference (eval mode, autograd off, float32 on CPU) the backbone keeps a second,
# read-only copy of its matrices in the form that streams fastest: q/k/v fused into one matrix and
# gate/up into another (one matmul instead of three and two), each prepacked in oneDNN's blocked
# layout where PyTorch has oneDNN (about twice MKL's throughput on the [out, in] layout at a few rows,
# and faster on many rows too), and the output head's rows for each set of logits ranges gathered
# once. A leaner layer function uses them: RMSNorm scales folded into the matrices that follow,
# rotary embeddings applied to q and k at once, residual additions fused into the matmuls, no
# attention mask where a decode step has no padding. The nn.Linear parameters stay the only trained
# state (state dict, autograd, FSDP, checkpoints); the copy is rebuilt when a parameter or submodule
# is replaced or a parameter is modified in place (its version counter moves), and is dropped by
# train(), to() and the like. Without oneDNN the modules run (fused matrices alone gain nothing
# measurable with MKL's kernels, and would double the memory). A decode step of up to a few rows goes
# further where the C++ kernel builds (decode_kernel.py): one call runs every layer on the parameters
# themselves, and the head's allowed rows are read in place.

PACK_ROWS_HINT = None  # oneDNN's default packed layout: as fast as any at 1 row and at 8, faster at 96
MAX_HEADS = 4  # output heads kept, one per distinct set of logits ranges


@functools.cache
def onednn_linear_available() -> bool:
    """Whether this PyTorch can prepack linear weights for oneDNN (not every build or CPU can)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._reorder_linear_weight
                    and torch.ops.mkldnn._linear_pointwise)
    except (AttributeError, RuntimeError):
        return False


class FrozenLinear:
    """``F.linear(x, weight, bias)`` on a copy of ``weight`` taken now, prepacked for oneDNN.
    Inference only: no autograd, and later changes to the original are not seen."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), PACK_ROWS_HINT)
        self.bias = None if bias is None else bias.detach().clone()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")

    def add(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + F.linear(x, weight, bias)``, the addition fused into the matmul."""
        return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")


def _step_weights(layer: DecoderLayer) -> list[torch.Tensor]:
    """A layer's parameters in the order ``decode_step`` takes them (an empty tensor for no bias)."""
    attn, mlp = layer.self_attn, layer.mlp
    none = torch.empty(0)
    tensors = [layer.input_layernorm.weight, attn.q_proj.weight, attn.q_proj.bias, attn.k_proj.weight,
               attn.k_proj.bias, attn.v_proj.weight, attn.v_proj.bias, attn.o_proj.weight,
               layer.post_attention_layernorm.weight, mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight]
    return [none if t is None else t.detach() for t in tensors]


MATRICES = (1, 3, 5, 7, 9, 10, 11)  # the weight matrices among _step_weights (the rest: norm scales, biases)
DECODE_WEIGHTS = ("fp32", "bf16", "int8")


def pack(weight: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight matrix as the fused step reads it, and its row scales (int8; else an empty tensor):
    float32 in place, bfloat16 (rounded to nearest), or int8 symmetric per output row."""
    none = torch.empty(0)
    if kind == "fp32":
        return weight, none
    if kind == "bf16":
        return weight.to(torch.bfloat16).contiguous(), none
    scale = weight.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127
    return torch.round(weight / scale[:, None]).clamp_(-127, 127).to(torch.int8).contiguous(), scale.contiguous()


def _fused(linears: Sequence[nn.Linear], scale: torch.Tensor) -> FrozenLinear:
    """One FrozenLinear computing the outputs of ``linears`` side by side for the input ``scale * x``."""
    weight = torch.cat([m.weight.detach() for m in linears]) * scale.detach()
    bias = None
    if any(m.bias is not None for m in linears):
        bias = torch.cat([m.weight.new_zeros(m.out_features) if m.bias is None else m.bias.detach()
                          for m in linears])
    return FrozenLinear(weight, bias)


def normalise(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``RMSNorm`` without its scale: ``x / sqrt(mean(x ** 2) + eps)`` over the last dimension."""
    return x * x.pow(2).mean(-1, keepdim=True).add_(eps).rsqrt_()


class FrozenLayer:
    """``DecoderLayer.forward`` on frozen weights (see above); equal to it up to float rounding."""

    def __init__(self, layer: DecoderLayer):
        attn, mlp = layer.self_attn, layer.mlp
        self.n_heads, self.n_kv_heads, self.head_dim = attn.n_heads, attn.n_kv_heads, attn.head_dim
        # The RMSNorm scales fold into the columns of the matrices that read the normalised input.
        norm1, norm2 = layer.input_layernorm, layer.post_attention_layernorm
        self.qkv = _fused([attn.q_proj, attn.k_proj, attn.v_proj], scale=norm1.weight)
        self.o = FrozenLinear(attn.o_proj.weight, attn.o_proj.bias)
        self.gate_up = _fused([mlp.gate_proj, mlp.up_proj], scale=norm2.weight)
        self.down = FrozenLinear(mlp.down_proj.weight, mlp.down_proj.bias)
        self.eps1, self.eps2 = norm1.eps, norm2.eps

    def __call__(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
                 cache: KVCache | None, layer: int) -> torch.Tensor:
        """As ``DecoderLayer.forward``, with ``cos``, ``sin`` from ``InferenceWeights.rotary`` (and no
        ``mask`` where every query may see every key)."""
        b, t, _ = x.shape
        heads, kv_heads, dh = self.n_heads, self.n_kv_heads, self.head_dim
        qkv = self.qkv(normalise(x, self.eps1)).view(b, t, heads + 2 * kv_heads, dh)
        qk, v = qkv.split([heads + kv_heads, kv_heads], dim=2)
        # q and k heads side by side: one rotation for both ("rotate half", see ``rotate``).
        q, k = torch.addcmul(qk * cos, qk.roll(dh // 2, dims=-1), sin).split([heads, kv_heads], dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        q = q.reshape(b, kv_heads, -1, dh)  # grouped-query attention as in Attention.forward
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.view(b, 1, -1) if t == 1 else y.reshape(b, heads, t, dh).transpose(1, 2).reshape(b, t, -1)
        x = self.o.add(y, x)
        gate, up = self.gate_up(normalise(x, self.eps2)).chunk(2, dim=-1)
        return self.down.add(F.silu(gate).mul_(up), x)


class InferenceWeights:
    """A backbone's frozen decoder layers and final norm, and what they were built from."""

    def __init__(self, backbone: Qwen2Backbone):
        # Every (parameter or submodule dict, name, object) link of the module tree, and the version
        # and address of every parameter: while these hold, the frozen copy is up to date. Holding the
        # parameters' storage keeps an address from being reused by another tensor.
        self.links, self.modules, self.params = [], [], []
        for module in backbone.modules():
            if module is not backbone:
                self.modules.append(module)
            self.links += [(module._parameters, name, p) for name, p in module._parameters.items()]
            self.links += [(module._modules, name, m) for name, m in module._modules.items()]
            self.params += [p for p in module._parameters.values() if p is not None]
        # Not FSDP's sharded DTensors, nor inference tensors (they have no version counter).
        self.usable = not self.hooked() and all(type(p) is nn.Parameter and p.device.type == "cpu"
                                                and p.dtype == torch.float32 and not p.is_inference()
                                                for p in self.params)
        # What was asked, and what is built: fp32 where the fused kernel cannot be built here.
        self.asked = backbone.decode_weights
        self.use_kernel = backbone.use_decode_kernel
        self.kind = self.asked if decode_kernel.load() is not None else "fp32"
        if not self.usable:
            return
        self.stamps = [(p._version, p.data_ptr()) for p in self.params]
        self.storage = [p.detach() for p in self.params]
        # With quantised decode weights the prepacked copy is not made (the point is less memory):
        # prefills and steps of many rows run the modules.
        self.layers = [FrozenLayer(layer) for layer in backbone.layers] if self.kind == "fp32" else None
        self.norm_weight, self.norm_eps = backbone.norm.weight.detach().clone(), backbone.norm.eps
        self.head_weight, self.head_scale = pack(
            (backbone.embed_tokens if backbone.lm_head is None else backbone.lm_head).weight.detach(), self.kind)
        self.heads: dict[tuple[tuple[int, int], ...] | None, FrozenLinear] = {}
        config = backbone.config
        self.inv_freq = inverse_frequencies(config.head_dim, config.rope_theta)
        self.groups = config.num_attention_heads // config.num_key_value_heads
        self.n_heads, self.eps = config.num_attention_heads, config.rms_norm_eps
        # The fused decode step (decode_kernel) reads the parameters themselves, in place (fp32), or
        # their quantised copies.
        self.step_weights, self.step_scales = [], []
        for layer in backbone.layers:
            for i, w in enumerate(_step_weights(layer)):
                w, scale = pack(w, self.kind) if i in MATRICES else (w, torch.empty(0))
                self.step_weights.append(w)
                self.step_scales.append(scale)
        if not all(w.is_contiguous() for w in self.step_weights + [self.head_weight]):
            self.step_weights = None

    def hooked(self) -> bool:
        """Whether a forward hook would be bypassed (FSDP registers some on every layer)."""
        return bool(_global_forward_hooks or _global_forward_pre_hooks
                    or any(m._forward_hooks or m._forward_pre_hooks for m in self.modules))

    def current(self) -> bool:
        """Whether the module tree and every parameter are as they were when these were built."""
        return (all(links.get(name) is obj for links, name, obj in self.links)
                and [(p._version, p.data_ptr()) for p in self.params] == self.stamps)

    def rotary(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``rotary`` laid out for ``FrozenLayer``: cos and sin ``[B, T, 1, Dh]``, the first half of sin
        negated so that rotating is ``x * cos + x.roll(Dh / 2) * sin``."""
        angles = position_ids[..., None].float() * self.inv_freq
        angles = torch.cat([angles, angles], dim=-1)[:, :, None]
        cos, sin = angles.cos().to(dtype), angles.sin().to(dtype)
        sin[..., : sin.shape[-1] // 2].neg_()
        return cos, sin

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor, key_mask: torch.Tensor,
                cache: KVCache | None) -> torch.Tensor:
        """The decoder layers and the final norm; arguments as ``Qwen2Backbone.forward``'s."""
        b, length = x.shape[:2]
        kernel = self.fused_kernel(b, cache) if length == 1 else None
        if kernel is not None:
            cos, sin = self.rotary(position_ids, x.dtype)
            hidden = kernel.decode_step(
                x.reshape(b, -1), self.step_weights, self.step_scales, self.norm_weight, cache.keys, cache.values,
                key_mask.contiguous(), cos.view(b, -1), sin.view(b, -1), cache.length, self.n_heads, self.eps)
            return hidden.view(b, 1, -1)
        if self.layers is None:  # quantised decode weights: the modules run what the kernel does not
            return None
        if length == 1 and bool(key_mask.all()):  # a decode step without padding: every key is visible
            mask = None
        elif length == 1:  # a decode step: one row of ``attention_bias``, shared by a group's query heads
            mask = torch.zeros(key_mask.shape, dtype=x.dtype, device=x.device).masked_fill_(~key_mask, float("-inf"))
            mask[:, -1] = 0.0  # as in attention_bias, a query always sees itself
            mask = mask.view(b, 1, 1, -1)
        else:
            mask = attention_bias(key_mask, length, self.groups, x.dtype)
        cos, sin = self.rotary(position_ids, x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, cache, i)
        return normalise(x, self.norm_eps).mul_(self.norm_weight)

    def fused_kernel(self, rows: int, cache: KVCache | None = None, step: bool = True):
        """The fused kernel (see decode_kernel) for ``rows`` rows, or None where it does not apply: a decode
        ``step`` needs a float32 cache it can write in place."""
        if self.step_weights is None or not self.use_kernel:
            return None
        if rows > decode_kernel.MAX_ROWS and self.kind == "fp32":  # beyond, oneDNN's matmuls win
            return None
        if step and (cache is None or cache.keys.dtype != torch.float32 or not cache.keys.is_contiguous()
                     or not cache.values.is_contiguous()):
            return None
        return decode_kernel.load()

    def logits(self, hidden: torch.Tensor, ranges: Sequence[tuple[int, int]] | None) -> torch.Tensor:
        """``Qwen2Backbone.logits``: the head's rows for ``ranges`` gathered into one matrix, once; at a
        few rows, read in place by the fused kernel instead."""
        key = None if ranges is None else tuple((int(lo), int(hi)) for lo, hi in ranges)
        rows = hidden.shape[:-1].numel()
        kernel = self.fused_kernel(rows, step=False)
        if kernel is not None:
            flat = [0, self.head_weight.shape[0]] if key is None else [bound for pair in key for bound in pair]
            logits = kernel.head_rows(hidden.reshape(rows, -1), self.head_weight, self.head_scale, flat)
            return logits.view(*hidden.shape[:-1], -1)
        if self.layers is None:
            return None
        head = self.heads.get(key)
        if head is None:
            if len(self.heads) >= MAX_HEADS:
                self.heads.clear()
            rows = self.head_weight if key is None else torch.cat([self.head_weight[lo:hi] for lo, hi in key])
            head = self.heads[key] = FrozenLinear(rows, None)
        return head(hidden)


class Qwen2Backbone(Backbone):
    """Qwen2 decoder over input embeddings; ``Qwen2Config.pretrained`` loads a Hugging Face checkpoint.

    In eval mode with autograd off, float32 on CPU, ``forward`` and ``logits`` run on a frozen,
    fused and prepacked copy of the weights (``inference_weights``; it costs as much memory again as
    the matrices), built on first use and rebuilt after any parameter change; the results equal the
    modules' up to float rounding. ``decode()`` checks the copy once per call (``inference_session``)
    rather than at every step. Set ``use_inference_weights = False`` to always run the modules. A
    backbone whose parameters exceed ``inference_weights_max_bytes`` (the paper size: 7 GB in float32)
    runs the modules too, so CPU inference never needs twice its weights' memory unasked; raise the
    limit (``None``: no limit) where the memory is there.
    """

    use_inference_weights: bool = True
    inference_weights_max_bytes: int | None = 2 << 30
    # What the fused decode step reads (set_decode_weights): the float32 parameters, or bf16 or int8
    # copies of the matrices (weight-only: activations stay float32).
    decode_weights: str = "fp32"
    use_decode_kernel: bool = True  # False: decode steps run the PyTorch path (for comparison)

    def __init__(self, config: Qwen2Config):
        super().__init__()
        self._inference: InferenceWeights | None = None
        self._trusted: InferenceWeights | None = None  # checked on entering inference_session()
        if config.pretrained:
            config = read_hf_config(config.pretrained, dtype=config.dtype)
        self.config = config
        self.hidden_size, self.vocab_size = config.hidden_size, config.vocab_size
        # A pretrained model is built without storage; the checkpoint's tensors become its parameters.
        with torch.device("meta") if config.pretrained else contextlib.nullcontext():
            self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
            self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
            self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
            self.lm_head = (None if config.tie_word_embeddings
                            else nn.Linear(config.hidden_size, config.vocab_size, bias=False))
        self.to(DTYPES[config.dtype])
        if config.pretrained:
            self._load_hf_weights(Path(config.pretrained))
        else:
            self.apply(_init_weights)

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: str = "float32") -> Qwen2Backbone:
        return cls(Qwen2Config(pretrained=str(path), dtype=dtype))

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        length = inputs_embeds.shape[1]
        past = cache.length if cache is not None else 0
        if attention_mask.shape[1] != past + length:
            raise ValueError(f"attention_mask covers {attention_mask.shape[1]} positions; expected "
                             f"{past} cached + {length} new")
        frozen = self.inference_weights(inputs_embeds)
        x = None if frozen is None else frozen.forward(inputs_embeds, position_ids, attention_mask.bool(), cache)
        if x is None:
            groups = self.config.num_attention_heads // self.config.num_key_value_heads
            mask = attention_bias(attention_mask.bool(), length, groups, inputs_embeds.dtype)
            cos, sin = rotary(position_ids, self.config.head_dim, self.config.rope_theta, inputs_embeds.dtype)
            x = inputs_embeds
            for i, layer in enumerate(self.layers):
                x = layer(x, cos, sin, mask, cache, i)
            x = self.norm(x)
        if cache is not None:
            cache.advance(length)
        return x

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed_tokens(ids)

    def logits(self, hidden: torch.Tensor, ranges: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
        frozen = self.inference_weights(hidden)
        logits = None if frozen is None else frozen.logits(hidden, ranges)
        if logits is not None:
            return logits
        weight = (self.embed_tokens if self.lm_head is None else self.lm_head).weight
        if ranges is None:
            return F.linear(hidden, weight)
        # Row slices are views: only the allowed rows of the head are read.
        return torch.cat([F.linear(hidden, weight[lo:hi]) for lo, hi in ranges], dim=-1)

    def inference_weights(self, x: torch.Tensor) -> InferenceWeights | None:
        """The frozen weights for a forward or logits call on ``x``, rebuilt first if a parameter or
        submodule was replaced or a parameter modified in place since they were built. None where
        they do not apply: autograd on, training mode, autocast, not float32 on CPU (a GPU gains
        little and would hold a second copy), sharded (FSDP) parameters, or forward hooks on a
        submodule, which the fused layers would bypass. (Writes through ``param.data`` escape version
        counters: call ``train()`` or ``drop_inference_weights()`` after them.)"""
        if (not self.use_inference_weights or self.training or torch.is_grad_enabled()
                or x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_autocast_enabled("cpu")
                or not onednn_linear_available() or self._too_large_for_a_copy()):
            return None
        if self._trusted is not None:
            return self._trusted
        frozen = self._inference
        if (frozen is None or not frozen.current() or frozen.asked != self.decode_weights
                or frozen.use_kernel != self.use_decode_kernel):
            self._inference = None  # free the old copy before building the new one
            try:
                frozen = InferenceWeights(self)
            except RuntimeError as e:  # a oneDNN that cannot pack these weights after all
                warnings.warn(f"qwen2: running the modules, as oneDNN could not prepack the weights ({e})")
                self.use_inference_weights = False
                return None
            if not frozen.usable:
                return None
            self._inference = frozen
        return None if frozen.hooked() else frozen

    def _too_large_for_a_copy(self) -> bool:
        limit = self.inference_weights_max_bytes
        return limit is not None and sum(p.numel() * p.element_size() for p in self.parameters()) > limit

    @contextlib.contextmanager
    def inference_session(self) -> Iterator[None]:
        """A span of calls between which the parameters cannot change, such as one ``decode()``: the
        inference weights are checked once on entry rather than at every forward call."""
        with torch.no_grad():
            trusted = self.inference_weights(self.embed_tokens.weight)
        previous, self._trusted = self._trusted, trusted
        try:
            yield
        finally:
            self._trusted = previous

    def set_decode_weights(self, kind: str) -> None:
        """Decode steps read the matrices as ``kind``: fp32 (the parameters in place, in steps of up to
        ``decode_kernel.MAX_ROWS`` rows), bf16 or int8 (per-row scales; steps of any number of rows,
        eight at a time): a half or a quarter of the bytes, for a step bound by reading them. The
        float32 parameters stay (training, prefill), and the prepacked copy is not made, so inference
        holds 1.5x (bf16) or 1.25x (int8) the float32 matrices rather than 2x. Where the fused kernel
        cannot be built, nothing changes."""
        if kind not in DECODE_WEIGHTS:
            raise ValueError(f"decode weights {kind!r}: expected one of {', '.join(DECODE_WEIGHTS)}")
        if kind != self.decode_weights:
            self.decode_weights = kind
            self.drop_inference_weights()

    def drop_inference_weights(self) -> None:
        """Free the frozen copies (they are rebuilt on the next inference call)."""
        self._inference = self._trusted = None

    def prepare_for_inference(self) -> Qwen2Backbone:
        """Switch to eval mode and build the inference weights now rather than at the first call."""
        self.eval()
        with torch.no_grad():
            self.inference_weights(self.embed_tokens.weight)
        return self

    def train(self, mode: bool = True) -> Qwen2Backbone:
        if mode:
            self.drop_inference_weights()
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):
        self.drop_inference_weights()  # to(), cuda(), half(), ...: the parameters change
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self) -> dict:
        state = super().__getstate__().copy()
        state["_inference"] = state["_trusted"] = None  # copies and pickles leave the derived weights behind
        return state

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        weight = self.embed_tokens.weight
        return KVCache(self.config.num_hidden_layers, batch, self.config.num_key_value_heads, max_len,
                       self.config.head_dim, dtype=weight.dtype, device=weight.device)

    def resize_vocab(self, size: int) -> None:
        """Keep the first ``min(size, vocab_size)`` rows; new rows are N(0, 0.02) like a fresh model's.
        Parameters are replaced, so build the optimizer after resizing."""
        if size < 1:
            raise ValueError(f"vocabulary size must be positive, got {size}")
        heads = [self.embed_tokens] + ([] if self.lm_head is None else [self.lm_head])
        for module in heads:
            old = module.weight
            new = old.new_empty(size, old.shape[1])
            with torch.no_grad():
                nn.init.normal_(new, std=INIT_STD)
                keep = min(size, old.shape[0])
                new[:keep] = old[:keep]
            module.weight = nn.Parameter(new, requires_grad=old.requires_grad)
        self.embed_tokens.num_embeddings = size
        if self.lm_head is not None:
            self.lm_head.out_features = size
        self.vocab_size = size
        self.config = replace(self.config, vocab_size=size)

    # -- Hugging Face checkpoints ---------------------------------------------------------------

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` as ``transformers`` saves a Qwen2ForCausalLM."""
        path = Path(path)
        write_json(path / "config.json", hf_config_dict(self.config))
        tensors = {_hf_key(k): v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
        return path

    def _load_hf_weights(self, path: Path) -> None:
        tensors = read_safetensors(path)
        if self.lm_head is None:
            tensors.pop("lm_head.weight", None)  # some tied checkpoints store the shared matrix twice
        expected = {_hf_key(k): v.shape for k, v in self.state_dict().items()}
        missing, unexpected = sorted(expected.keys() - tensors.keys()), sorted(tensors.keys() - expected.keys())
        if missing or unexpected:
            raise DataError(f"{path}: the checkpoint does not match its config.json: missing tensors "
                            f"{_listing(missing)}; unexpected tensors {_listing(unexpected)}")
        wrong = [f"{k} {tuple(tensors[k].shape)} (config says {tuple(shape)})"
                 for k, shape in expected.items() if tensors[k].shape != shape]
        if wrong:
            raise DataError(f"{path}: tensors of the wrong shape: {_listing(wrong)}")
        dtype = DTYPES[self.config.dtype]
        self.load_state_dict({k.removeprefix("model."): t.to(dtype) for k, t in tensors.items()}, assign=True)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _hf_key(name: str) -> str:
    return name if name.startswith("lm_head.") else "model." + name


def _listing(keys: list[str], limit: int = 10) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


# Values Hugging Face's Qwen2Config takes for keys a config.json leaves out.
HF_DEFAULTS = {"max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
               "rope_theta": 10000.0, "max_window_layers": 28}
ARCHITECTURE = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")


def read_hf_config(directory: str | Path, dtype: str = "float32") -> Qwen2Config:
    """The ``Qwen2Config`` of a Hugging Face checkpoint directory, refusing what this backbone cannot run."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not found (pretrained must be a Hugging Face checkpoint directory)")
    try:
        raw = {**HF_DEFAULTS, **json.loads(path.read_text(encoding="utf-8"))}
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: malformed JSON ({e.msg})") from None
    if raw.get("model_type") != "qwen2":
        raise ConfigError(f"{path}: model_type is {raw.get('model_type')!r}; only 'qwen2' checkpoints load here")
    if missing := [k for k in ARCHITECTURE if k not in raw]:
        raise ConfigError(f"{path}: missing {', '.join(missing)}")
    if raw.get("hidden_act", "silu") != "silu":
        raise ConfigError(f"{path}: hidden_act {raw['hidden_act']!r} is not supported (only 'silu')")
    if "head_dim" in raw and raw["head_dim"] * raw["num_attention_heads"] != raw["hidden_size"]:
        raise ConfigError(f"{path}: head_dim {raw['head_dim']} is not hidden_size / num_attention_heads")
    # transformers 5 keeps rope_theta in rope_parameters, older versions at the top level (rope_scaling wins).
    rope = raw.get("rope_scaling") or raw.get("rope_parameters") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ConfigError(f"{path}: rope type {rope_type!r} is not supported (only 'default')")
    if raw.get("use_sliding_window") and raw.get("sliding_window") is not None:
        n = raw["num_hidden_layers"]
        types = raw.get("layer_types") or ["sliding_attention" if i >= raw["max_window_layers"] else "full_attention"
                                           for i in range(n)]
        # A window no shorter than the context never cuts anything off.
        if "sliding_attention" in types and raw["sliding_window"] < raw["max_position_embeddings"]:
            raise ConfigError(f"{path}: sliding-window attention (use_sliding_window, sliding_window="
                              f"{raw['sliding_window']}) is not supported")
    try:
        return Qwen2Config(
            **{k: raw[k] for k in ARCHITECTURE},
            num_key_value_heads=raw.get("num_key_value_heads") or raw["num_attention_heads"],
            max_position_embeddings=raw["max_position_embeddings"],
            rms_norm_eps=float(raw["rms_norm_eps"]),
            rope_theta=float(rope.get("rope_theta", raw["rope_theta"])),
            tie_word_embeddings=bool(raw["tie_word_embeddings"]),
            pretrained=str(directory),
            dtype=dtype,
        )
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def hf_config_dict(config: Qwen2Config) -> dict:
    """``config.json`` contents that transformers 4 and 5 both read as this model."""
    fields = ARCHITECTURE + ("num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings")
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        **{k: getattr(config, k) for k in fields},
        "hidden_act": "silu",
        "rope_theta": config.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "use_sliding_window": False,
        "torch_dtype": config.dtype,
    }


def read_safetensors(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of ``model.safetensors`` or of the shards listed in ``model.safetensors.index.json``."""
    single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
    if single.is_file():
        return load_file(single)
    if not index.is_file():
        raise DataError(f"{directory}: no model.safetensors or model.safetensors.index.json "
                        f"(pickled .bin checkpoints are not loaded; convert them to safetensors)")
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (json.JSONDecodeError, KeyError, AttributeError):
        raise DataError(f"{index}: malformed index (expected a JSON object with a weight_map)") from None
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        if not (directory / shard).is_file():
            raise DataError(f"{index}: shard {shard} not found")
        tensors.update(load_file(directory / shard))
    return tensors


@hookimpl
def register_components(register):
    register("backbone", "qwen2", Qwen2Backbone,
             "Qwen2/Qwen2.5 decoder (GQA, RoPE, SwiGLU); loads Hugging Face checkpoints", config=Qwen2Config)
