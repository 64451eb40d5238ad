"""LauraGPT: one decoder-only GPT over text tokens, continuous audio embeddings, task tokens and
first-group codec tokens.

    sequence   [input] [task token] [output] [eos]
    input      text ids -> the backbone's embedding table, or audio -> the audio encoder
    output     text ids or codec ids, predicted by one softmax over the unified vocabulary
    loss       cross-entropy on output tokens and eos only

Components come from the registry by name (``ModelConfig``); the vocabulary layout fixes where text,
special, task and codec ids live. ``save``/``load`` keep config, layout and weights together, and
loading refuses a layout that differs from the one the config builds.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from laura_core.config import load_config, save_config
from laura_core.errors import ConfigError, DataError
from laura_core.generation import DecodeOptions, Generators, Prompt, decode
from laura_core.interfaces import AudioEncoder, Backbone
from laura_core.io import atomic_write_text
from laura_core.sequence import IGNORE_INDEX, build_sequence
from laura_core.task import Modality, Task
from laura_core.vocab import VocabLayout

if TYPE_CHECKING:
    from laura_core.registry import Registry


@dataclass
class ModelConfig:
    encoder: str = "conformer"
    encoder_conf: dict[str, Any] = field(default_factory=dict)
    backbone: str = "qwen2"
    backbone_conf: dict[str, Any] = field(default_factory=dict)
    text_vocab_size: int = 0  # text ids [0, n): the tokenizer's size; 0 = the backbone's own vocabulary
    codec_size: int = 1024  # first-group codebook size of the codec
    tasks: list[str] = field(default_factory=list)  # empty = every registered task


@dataclass
class Item:
    """One example in model form. ``source``: text ids ``[N]`` (long) or a waveform ``[S]`` (float,
    at the encoder's rate); ``target``: output ids in the unified vocabulary, without eos."""

    task: str
    source: torch.Tensor
    target: torch.Tensor | None = None


@dataclass
class Batch:
    tasks: list[str]
    ids: torch.Tensor  # [B, T] long; audio positions hold the <|audio|> placeholder
    is_audio: torch.Tensor  # [B, T] bool
    mask: torch.Tensor  # [B, T] bool, False at padding
    labels: torch.Tensor  # [B, T] long next-token targets, IGNORE_INDEX outside output + eos
    wav: torch.Tensor | None  # [A, S] waveforms of the A audio-input items, in batch order
    wav_lengths: torch.Tensor | None  # [A]


@dataclass
class TaskStats:
    loss_sum: float = 0.0
    tokens: int = 0  # what the loss averages over: tokens, or clips for a codec
    correct: int = 0
    has_accuracy: bool = True  # False where predictions are not tokens (codec, vocoder)


@dataclass
class ModelOutput:
    loss: torch.Tensor  # mean cross-entropy over every output token and eos of the batch
    stats: dict[str, TaskStats]  # per task, for logging loss and token accuracy separately
    values: dict[str, float] = field(default_factory=dict)  # other batch means to log (codec loss terms, ...)


def default_decoding(modality: Modality) -> DecodeOptions:
    """How outputs of a modality decode unless told otherwise: text greedy; codec tokens sampled
    (top-k 25, as LauraGPT does) for at most 750 frames (30 s at 25 Hz)."""
    if modality is Modality.CODEC:
        return DecodeOptions(strategy="sample", top_k=25, max_new_tokens=750)
    return DecodeOptions()


class LauraGPT(nn.Module):
    def __init__(self, encoder: AudioEncoder, backbone: Backbone, layout: VocabLayout, tasks: dict[str, Task]):
        super().__init__()
        missing = set(layout.tasks) ^ set(tasks)
        if missing:
            raise ConfigError(f"tasks {sorted(missing)} are in only one of the vocabulary layout and the task set")
        if backbone.vocab_size != layout.size:
            raise ConfigError(f"backbone vocabulary {backbone.vocab_size} != layout size {layout.size}")
        self.encoder, self.backbone, self.layout = encoder, backbone, layout
        self.inputs = {name: t.input for name, t in tasks.items()}
        self.outputs = {name: t.output for name, t in tasks.items()}
        self.silent_text_ids: tuple[int, ...] = ()  # see never_emit
        # Sharded training (FSDP) needs every rank to run every module each step, audio or not.
        self.always_run_encoder = False

    # -- batches ------------------------------------------------------------------------------

    def collate(self, items: Sequence[Item], left_pad: bool = False) -> Batch:
        """Lay items out as ``[input] [task] [output] [eos]`` rows, right-padded for training or
        left-padded (``left_pad``) for generation."""
        audio = [it for it in items if self.inputs[it.task] is Modality.AUDIO]
        wav = wav_lengths = None
        frames: list[int] = []
        if audio:
            wav_lengths = torch.tensor([len(it.source) for it in audio], dtype=torch.long)
            wav = nn.utils.rnn.pad_sequence([it.source.float() for it in audio], batch_first=True)
            frames = self.encoder.output_lengths(wav_lengths).tolist()
        seqs, next_frame = [], iter(frames)
        for it in items:
            source = next(next_frame) if self.inputs[it.task] is Modality.AUDIO else it.source.tolist()
            target = None if it.target is None else it.target.tolist()
            seqs.append(build_sequence(self.layout, it.task, self.outputs[it.task], source, target))
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.layout.pad_id, dtype=torch.long)
        is_audio = torch.zeros((len(seqs), width), dtype=torch.bool)
        mask = torch.zeros((len(seqs), width), dtype=torch.bool)
        labels = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)
        for b, s in enumerate(seqs):
            span = slice(width - len(s), width) if left_pad else slice(0, len(s))
            ids[b, span] = torch.tensor(s.ids)
            is_audio[b, span] = torch.tensor(s.is_audio)
            mask[b, span] = True
            labels[b, span] = torch.tensor(s.labels())
        return Batch([it.task for it in items], ids, is_audio, mask, labels, wav, wav_lengths)

    def embed(self, batch: Batch) -> torch.Tensor:
        """Input embeddings ``[B, T, D]``: token embeddings, with audio positions replaced by the encoder's output."""
        device = self.device
        emb = self.backbone.embed(batch.ids.to(device))
        if batch.wav is not None:
            enc, enc_lengths = self.encoder(batch.wav.to(device), batch.wav_lengths.to(device))
            valid = torch.arange(enc.shape[1], device=device)[None, :] < enc_lengths[:, None]
            frames = enc[valid].to(emb.dtype)  # item by item, frame by frame: the order of is_audio positions
            is_audio = batch.is_audio.to(device)
            if frames.shape[0] != int(is_audio.sum()):
                raise RuntimeError("the audio encoder produced a different number of frames than output_lengths() said")
            emb = emb.masked_scatter(is_audio[..., None], frames)
        elif self.always_run_encoder:
            # A tenth of a second of silence, added with weight 0: the encoder gets zero gradients.
            silence = torch.zeros(1, self.encoder.sample_rate // 10, device=device)
            enc, _ = self.encoder(silence, torch.tensor([silence.shape[1]], device=device))
            emb = emb + 0.0 * enc.sum()
        return emb

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    # -- training -----------------------------------------------------------------------------

    def forward(self, batch: Batch) -> ModelOutput:
        device = self.device
        mask = batch.mask.to(device)
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        hidden = self.backbone(self.embed(batch), mask, positions, None)
        labels = batch.labels.to(device)
        scored = labels != IGNORE_INDEX
        logits = self.backbone.logits(hidden[scored]).float()  # only output positions reach the softmax
        targets = labels[scored]
        token_loss = F.cross_entropy(logits, targets, reduction="none")
        rows = torch.arange(len(batch.tasks), device=device)[:, None].expand_as(labels)[scored]
        correct = logits.argmax(-1) == targets
        stats: dict[str, TaskStats] = {}
        for b, task in enumerate(batch.tasks):
            mine = rows == b
            s = stats.setdefault(task, TaskStats())
            s.loss_sum += float(token_loss[mine].detach().sum())
            s.tokens += int(mine.sum())
            s.correct += int(correct[mine].sum())
        return ModelOutput(token_loss.mean(), stats)

    # -- generation ---------------------------------------------------------------------------

    def never_emit(self, text_ids: Iterable[int]) -> None:
        """Text ids generation must not emit: the tokenizer's unknown and control pieces
        (``Tokenizer.never_emitted``). No target holds them and an output holding them is never
        right, yet an undertrained model may rank them first."""
        self.silent_text_ids = tuple(sorted({int(i) for i in text_ids}))

    @torch.inference_mode()
    def generate(
        self,
        items: Sequence[Item],
        text: DecodeOptions | None = None,
        codec: DecodeOptions | None = None,
        generator: Generators = None,
    ) -> list[list[int]]:
        """Continue each item's ``[input] [task]`` prompt; returns output ids without eos.

        Text outputs decode with ``text`` (default greedy), codec outputs with ``codec`` (default
        top-k 25 sampling, at most 750 tokens: 30 s at 25 Hz). Each item may emit only ids of its
        task's output modality, and eos. Sampling draws from ``generator``, one for all items or one
        per item (an item then samples the same whatever else is in the batch).
        """
        per_item = generator is not None and not isinstance(generator, torch.Generator)
        if per_item and len(generator) != len(items):
            raise ValueError(f"{len(generator)} generators for {len(items)} items")
        options = {Modality.TEXT: text or default_decoding(Modality.TEXT),
                   Modality.CODEC: codec or default_decoding(Modality.CODEC)}
        results: list[list[int]] = [[] for _ in items]
        for modality, opts in options.items():
            index = [i for i, it in enumerate(items) if self.outputs[it.task] is modality]
            if not index:
                continue
            batch = self.collate([Item(items[i].task, items[i].source) for i in index], left_pad=True)
            device = self.device
            prompt = Prompt(
                embeds=self.embed(batch),
                mask=batch.mask.to(device),
                ranges=self.layout.output_ranges(modality, self.silent_text_ids),
                max_new=torch.full((len(index),), opts.max_new_tokens, dtype=torch.long, device=device),
            )
            rows = [generator[i] for i in index] if per_item else generator
            for i, out in zip(index, decode(self.backbone, prompt, self.layout.eos_id, opts, rows)):
                results[i] = out
        return results

    # -- bookkeeping --------------------------------------------------------------------------

    def parameter_counts(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"encoder": count(self.encoder), "backbone": count(self.backbone), "total": count(self)}


def build_model(cfg: ModelConfig, registry: "Registry", layout: VocabLayout | None = None) -> LauraGPT:
    """Build the components named in ``cfg`` and size the backbone's vocabulary to the layout
    (``layout``, e.g. a checkpoint's, or the one ``cfg`` defines)."""
    backbone = registry.create("backbone", cfg.backbone, **cfg.backbone_conf)
    encoder = registry.create("encoder", cfg.encoder, **{**cfg.encoder_conf, "output_dim": backbone.hidden_size})
    if layout is None:
        text_size = cfg.text_vocab_size or backbone.vocab_size
        if cfg.backbone_conf.get("pretrained") and text_size != backbone.vocab_size:
            raise ConfigError(
                f"text_vocab_size {text_size} differs from the pretrained backbone's vocabulary {backbone.vocab_size}"
            )
        layout = VocabLayout.create(text_size, cfg.tasks or registry.tasks(), cfg.codec_size)
    tasks = {name: registry.task(name) for name in layout.tasks}
    backbone.resize_vocab(layout.size)
    return LauraGPT(encoder, backbone, layout, tasks)


def resolved_config(model: LauraGPT, cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with every size the model actually has (a pretrained checkpoint's shape included), so
    config + weights rebuild it without the original checkpoint files."""
    out = dataclasses.replace(cfg, text_vocab_size=model.layout.text_size, codec_size=model.layout.codec_size,
                              tasks=list(model.layout.tasks))
    for attr, part in (("backbone_conf", model.backbone), ("encoder_conf", model.encoder)):
        conf = getattr(part, "config", None)
        if dataclasses.is_dataclass(conf):
            setattr(out, attr, {k: v for k, v in dataclasses.asdict(conf).items() if k != "pretrained"})
    return out


NAMED_CONFIGS = Path(__file__).parent / "configs" / "model"


def load_model_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> ModelConfig:
    """A named size (``tiny``, ``small``, ``paper``) or a YAML file, plus ``key=value`` overrides."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = NAMED_CONFIGS / f"{name_or_path}.yaml"
        if not path.is_file():
            names = sorted(p.stem for p in NAMED_CONFIGS.glob("*.yaml"))
            raise ConfigError(f"unknown model config {name_or_path!r}: named sizes are {', '.join(names)}, or give a YAML path")
    return load_config(ModelConfig, path, overrides)


MODEL_FILE, CONFIG_FILE, LAYOUT_FILE = "model.safetensors", "config.yaml", "layout.json"


def save_model(model: LauraGPT, cfg: ModelConfig, directory: str | Path,
               state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the resolved config, the vocabulary layout and the weights (safetensors), each atomically;
    ``state`` replaces ``model.state_dict()`` (a sharded model's gathered weights)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_config(resolved_config(model, cfg), directory / CONFIG_FILE)
    atomic_write_text(directory / LAYOUT_FILE, json.dumps(model.layout.to_dict(), indent=2) + "\n")
    tmp = directory / f".{MODEL_FILE}.tmp"
    state = model.state_dict() if state is None else state
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    tmp.replace(directory / MODEL_FILE)
    return directory


def load_model(
    directory: str | Path, registry: "Registry", expected_layout: VocabLayout | None = None
) -> tuple[LauraGPT, ModelConfig]:
    """Rebuild a saved model. With ``expected_layout`` (from the tokenizer, tasks and codec in use), a
    checkpoint laid out differently is refused, naming each difference."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in (CONFIG_FILE, LAYOUT_FILE, MODEL_FILE):
        if not (directory / name).is_file():
            raise DataError(f"{directory}: not a saved model (missing {name})")
    cfg = load_config(ModelConfig, directory / CONFIG_FILE)
    saved = VocabLayout.from_dict(json.loads((directory / LAYOUT_FILE).read_text()))
    if expected_layout is not None:
        expected_layout.check_same(saved, str(directory / LAYOUT_FILE))
    model = build_model(cfg, registry, layout=saved)
    model.load_state_dict(load_file(str(directory / MODEL_FILE)))
    return model, cfg
