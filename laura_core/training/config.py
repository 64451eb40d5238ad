"""The typed config of ``laura train``: what to train, on what data, how, and where to write it.

``model_size`` names a model config (``tiny``, ``small``, ``paper``, or a YAML path) that fills
``model``; keys given under ``model`` then override it field by field.
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from omegaconf import MISSING, OmegaConf

from laura_core.config import load_config, to_dict
from laura_core.data.batches import DataConfig
from laura_core.errors import ConfigError
from laura_core.model.codec import CodecSpec
from laura_core.model.lauragpt import ModelConfig, load_model_config
from laura_core.training.distributed import STRATEGIES, DistributedConfig

PARTS = ("encoder", "backbone")
KINDS = ("lm", "codec", "vocoder")


@dataclass
class TokenizerConfig:
    name: str = "sentencepiece"
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {model: exp/tokenizer/tokenizer.model}


@dataclass
class ComponentSpec:
    """A component by registry name, with a ``size`` preset and ``options`` on top of it."""

    name: str = ""
    size: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class GanConfig:
    """The codec's discriminator (kind codec)."""

    start_step: int = 0  # steps of reconstruction losses alone before the discriminator joins; -1: it never does
    lr_scale: float = 1.0  # the discriminator's learning rate relative to optim.lr
    betas: list[float] = field(default_factory=lambda: [0.5, 0.9])


@dataclass
class OptimConfig:
    lr: float = 1e-3  # AdamW peak learning rate, reached after warmup
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    weight_decay: float = 0.01  # on weight matrices; biases and norm scales are not decayed
    warmup_steps: int = 100  # linear rise from 0
    decay: str = "cosine"  # "cosine" or "linear" from lr down to min_lr at max_steps
    min_lr: float = 1e-5
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    accum_steps: int = 1  # batches per optimizer step
    # kind lm: learning-rate multipliers of model parts, e.g. {backbone: 0.1} for a pretrained LLM
    lr_scale: dict[str, float] = field(default_factory=dict)


@dataclass
class InitConfig:
    """Safetensors files to start a part from: the part's own state dict, or a whole laura model
    (keys ``encoder.*`` / ``backbone.*``). Empty = random (or the backbone's pretrained weights)."""

    encoder: str = ""
    backbone: str = ""


@dataclass
class TrainConfig:
    kind: str = "lm"  # what is trained: lm (LauraGPT), codec, or vocoder
    exp_dir: str = MISSING
    model_size: str = ""  # a named model config or YAML that ``model`` overrides; "" = model alone
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    # kind codec: the codec to train (name, size, options); kinds lm and vocoder: path = a trained codec
    # directory, whose identity every checkpoint records (an LM needs one for its codec-output tasks)
    codec: CodecSpec = field(default_factory=CodecSpec)
    vocoder: ComponentSpec = field(default_factory=ComponentSpec)  # kind vocoder: e.g. name onestep, size tiny
    gan: GanConfig = field(default_factory=GanConfig)
    data: DataConfig = field(default_factory=DataConfig)
    valid: DataConfig | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    init: InitConfig = field(default_factory=InitConfig)
    freeze: list[str] = field(default_factory=list)  # parts kept fixed: encoder, backbone
    max_steps: int = 1000
    # kind lm with model.ctc_weight > 0: the first steps (of max_steps) train the encoder's adapter and the
    # CTC head alone, fast (no GPT), at optim.lr after its warmup; the GPT then starts on audio embeddings
    # that already say what is spoken (LauraGPT starts from an ASR-trained encoder), and the schedule
    # begins anew for the rest
    ctc_steps: int = 0
    log_every: int = 10
    valid_every: int = 500  # 0 = no validation during training
    valid_decode: int = 0  # at each validation, decode this many items per task and score them (not with FSDP)
    valid_vocoder: str = ""  # kind lm: a vocoder checkpoint (of codec.path) voicing tts/se decodes; without it they are skipped
    save_every: int = 500  # a checkpoint is always written at the end, too
    keep_last: int = 3  # checkpoints kept; 0 = all
    keep_best: int = 0  # also keep the best this many by best_metric (a checkpoint at every validation)
    best_metric: str = "valid/loss"  # a value of the valid log: valid/loss, valid/<task>/loss, valid/<task>/acc
    best_mode: str = "min"  # min: lower is better (losses); max: higher is better (accuracies)
    seed: int = 0  # parameters init, dropout; the data order follows data.seed
    resume: bool = False  # continue from the newest valid checkpoint in exp_dir
    precision: str = "fp32"  # or "bf16" / "fp16" (with loss scaling): autocast where the device supports it
    num_workers: int = 0  # data loading processes
    trunk_cache_gib: float = 4.0  # kind lm: memory for a frozen encoder trunk's frames, each audio encoded once; 0 = off
    distributed: DistributedConfig = field(default_factory=DistributedConfig)  # under torchrun


def load_train_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """The config of a YAML file plus ``key=value`` overrides, with ``model_size`` expanded, checked."""
    cfg = load_config(TrainConfig, path, overrides)
    if cfg.model_size:
        # Merge order: the named model, then the YAML's ``model`` keys, then overrides.
        raw = OmegaConf.load(path) if path is not None else OmegaConf.create()
        values = OmegaConf.merge({"model": to_dict(load_model_config(cfg.model_size))}, raw)
        cfg = load_config(TrainConfig, values=OmegaConf.to_container(values), overrides=overrides)
    check(cfg)
    return cfg


def _check_numbers(cfg: TrainConfig) -> None:
    """Every number of the config in its range, refused by key (a NaN lr would train silently into NaNs)."""
    o = cfg.optim
    rules = [("optim.lr", o.lr, "> 0", o.lr > 0), ("optim.min_lr", o.min_lr, ">= 0 and <= optim.lr", 0 <= o.min_lr <= o.lr),
             ("optim.weight_decay", o.weight_decay, ">= 0", o.weight_decay >= 0),
             ("optim.warmup_steps", o.warmup_steps, ">= 0", o.warmup_steps >= 0),
             ("optim.grad_clip", o.grad_clip, ">= 0 (0 = no clipping)", o.grad_clip >= 0),
             ("ctc_steps", cfg.ctc_steps, ">= 0 and < max_steps", 0 <= cfg.ctc_steps < max(cfg.max_steps, 1)),
             ("valid_every", cfg.valid_every, ">= 0", cfg.valid_every >= 0),
             ("valid_decode", cfg.valid_decode, ">= 0", cfg.valid_decode >= 0),
             ("trunk_cache_gib", cfg.trunk_cache_gib, ">= 0", cfg.trunk_cache_gib >= 0),
             ("num_workers", cfg.num_workers, ">= 0", cfg.num_workers >= 0),
             ("gan.start_step", cfg.gan.start_step, ">= -1 (-1: no discriminator)", cfg.gan.start_step >= -1),
             ("gan.lr_scale", cfg.gan.lr_scale, "> 0", cfg.gan.lr_scale > 0)]
    rules += [(f"optim.betas[{i}]", b, "in [0, 1)", 0 <= b < 1) for i, b in enumerate(o.betas)]
    for prefix, data in (("data", cfg.data), ("valid", cfg.valid)):
        if data is None:
            continue
        rules += [(f"{prefix}.max_duration", data.max_duration, "> 0 seconds", data.max_duration > 0),
                  (f"{prefix}.max_cuts", data.max_cuts, ">= 0", data.max_cuts >= 0),
                  (f"{prefix}.segment", data.segment, ">= 0 seconds", data.segment >= 0),
                  (f"{prefix}.num_buckets", data.num_buckets, ">= 1", data.num_buckets >= 1),
                  (f"{prefix}.noise.prob", data.noise.prob, "in [0, 1]", 0 <= data.noise.prob <= 1)]
        rules += [(f"{prefix}.tasks[{i}].weight", t.weight, "> 0", t.weight > 0) for i, t in enumerate(data.tasks)]
        rules += [(f"{prefix}.tasks[{i}].loss_weight", t.loss_weight, ">= 0", t.loss_weight >= 0)
                  for i, t in enumerate(data.tasks)]
    for key, value, wanted, ok in rules:
        if not math.isfinite(value) or not ok:
            raise ConfigError(f"{key} is {value}: it must be finite and {wanted}")


def check(cfg: TrainConfig) -> None:
    if cfg.precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"precision {cfg.precision!r}: expected fp32, bf16 or fp16")
    if cfg.kind not in KINDS:
        raise ConfigError(f"kind {cfg.kind!r}: expected one of {', '.join(KINDS)}")
    if cfg.distributed.strategy == "fsdp" and cfg.kind != "lm":
        raise ConfigError(f"distributed.strategy fsdp shards the LM's backbone; train a {cfg.kind} with ddp")
    if cfg.kind in ("lm", "vocoder") and cfg.codec.name and not cfg.codec.path:
        raise ConfigError(f"kind {cfg.kind} uses a trained codec: set codec.path to its directory, not codec.name")
    if cfg.kind == "codec" and not cfg.codec.name:
        raise ConfigError("kind codec: set codec.name (e.g. laura_codec) and optionally codec.size and codec.options")
    if cfg.kind == "vocoder" and not (cfg.vocoder.name and cfg.codec.path):
        raise ConfigError("kind vocoder: set vocoder.name (e.g. onestep) and codec.path (a trained codec directory)")
    if cfg.kind == "codec" and cfg.codec.path:
        raise ConfigError("kind codec trains the codec codec.name names; codec.path (a trained codec) is for lm "
                          "and vocoder")
    if cfg.kind != "lm" and (cfg.freeze or cfg.init.encoder or cfg.init.backbone or cfg.model_size):
        raise ConfigError(f"freeze, init and model_size are LM options; kind {cfg.kind} takes none")
    if cfg.ctc_steps and (cfg.kind != "lm" or cfg.model.ctc_weight <= 0 or cfg.ctc_steps >= cfg.max_steps):
        raise ConfigError("ctc_steps trains an LM's CTC head first: it needs kind lm, model.ctc_weight > 0 and "
                          "fewer steps than max_steps")
    if cfg.valid_decode and cfg.kind != "lm":
        raise ConfigError(f"valid_decode decodes LM outputs; kind {cfg.kind} validates its loss only")
    if cfg.valid_vocoder and (cfg.kind != "lm" or not cfg.codec.path):
        raise ConfigError("valid_vocoder voices an LM's codec tokens: it needs kind lm and codec.path")
    if cfg.optim.decay not in ("cosine", "linear"):
        raise ConfigError(f"optim.decay {cfg.optim.decay!r}: expected cosine or linear")
    if len(cfg.optim.betas) != 2:
        raise ConfigError(f"optim.betas needs two values, got {cfg.optim.betas}")
    if set(cfg.optim.lr_scale) - set(PARTS) or any(v <= 0 for v in cfg.optim.lr_scale.values()):
        raise ConfigError(f"optim.lr_scale {dict(cfg.optim.lr_scale)}: keys are {', '.join(PARTS)}, values positive")
    if cfg.optim.lr_scale and cfg.kind != "lm":
        raise ConfigError(f"optim.lr_scale scales an LM's parts; kind {cfg.kind} has none")
    unknown = sorted(set(cfg.freeze) - set(PARTS))
    if unknown:
        raise ConfigError(f"freeze {unknown}: parts are {', '.join(PARTS)}")
    for key, value in (("max_steps", cfg.max_steps), ("log_every", cfg.log_every), ("save_every", cfg.save_every),
                       ("optim.accum_steps", cfg.optim.accum_steps)):
        if value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}")
    _check_numbers(cfg)
    if cfg.distributed.strategy not in ("", *STRATEGIES):
        raise ConfigError(f"distributed.strategy {cfg.distributed.strategy!r}: expected ddp or fsdp")
    if cfg.keep_last < 0 or cfg.keep_best < 0:
        raise ConfigError(f"keep_last and keep_best must be at least 0, got {cfg.keep_last} and {cfg.keep_best}")
    if cfg.best_mode not in ("min", "max"):
        raise ConfigError(f"best_mode {cfg.best_mode!r}: expected min or max")
    if not cfg.best_metric.startswith("valid/") or cfg.best_metric == "valid/":
        raise ConfigError(f"best_metric {cfg.best_metric!r}: expected a validation value such as valid/loss")
    if cfg.keep_best > 0 and (cfg.valid is None or cfg.valid_every < 1):
        raise ConfigError("keep_best needs validation: set valid and valid_every")
    if cfg.valid is not None and cfg.valid.endless:
        raise ConfigError("valid.endless must be false: validation reads the valid set once")
