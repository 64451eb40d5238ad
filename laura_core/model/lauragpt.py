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
from laura_core.interfaces import AudioEncoder, Backbone
from laura_core.io import atomic_write_text, verify_if_saved_by_laura
from laura_core.model.ctc_prefix import CTCPrefixScorer
from laura_core.model.generation import DecodeOptions, Generators, Prompt, allowed_ids, decode
from laura_core.model.sequence import IGNORE_INDEX, build_sequence, length_groups
from laura_core.model.trunk_cache import TrunkCache
from laura_core.model.vocab import VocabLayout
from laura_core.task import Modality, Task

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
    # > 0: an auxiliary CTC loss (this weight) from the audio embeddings to the transcript of every audio
    # input that has one, through a linear head over the text ids and a blank
    ctc_weight: float = 0.0
    # with the CTC head: each audio embedding also gets the text embedding its CTC posterior expects
    # (the mixture of the GPT's own token embeddings), so the GPT reads speech as it reads text
    # (no gain measured on the mini corpus by step 500; off by default)
    ctc_embed: bool = False
    # training runs the GPT on at most this many groups of rows of like length (the same loss, less
    # padding: a batch's rows differ in length by task); 1 = the whole batch padded to its longest row
    # (what sharded training, FSDP, always does)
    length_groups: int = 4


@dataclass
class Item:
    """One example in model form. ``source``: text ids ``[N]`` (long) or a waveform ``[S]`` (float,
    at the encoder's rate); ``target``: output ids in the unified vocabulary, without eos."""

    task: str
    source: torch.Tensor
    target: torch.Tensor | None = None
    audio_key: str | None = None  # identifies an audio source's content: a frozen trunk's frames are cached by it
    transcript: torch.Tensor | None = None  # text ids of what is said in an audio source (the CTC loss's target)
    prefix: torch.Tensor | None = None  # output ids given before the target (a tts prompt's codec tokens)


@dataclass
class Batch:
    tasks: list[str]
    ids: torch.Tensor  # [B, T] long; audio positions hold the <|audio|> placeholder
    is_audio: torch.Tensor  # [B, T] bool
    mask: torch.Tensor  # [B, T] bool, False at padding
    labels: torch.Tensor  # [B, T] long next-token targets, IGNORE_INDEX outside output + eos
    wav: torch.Tensor | None  # [A, S] waveforms of the A audio-input items, in batch order
    wav_lengths: torch.Tensor | None  # [A]
    audio_keys: list[str | None] | None = None  # [A], see Item.audio_key
    transcripts: list[torch.Tensor | None] | None = None  # [A], see Item.transcript


@dataclass
class AudioEncoding:
    """The audio inputs of a batch as the model reads them (A items, T frames)."""

    embeddings: torch.Tensor  # [A, T, D] what fills the audio positions
    lengths: torch.Tensor  # [A]
    encoder_output: torch.Tensor  # [A, T, D] the encoder's own output
    ctc_logits: torch.Tensor | None  # [A, T, text ids + blank] of the CTC head, if the model has one


@dataclass
class TaskStats:
    loss_sum: float = 0.0
    tokens: int = 0  # what the loss averages over: tokens, or clips for a codec
    correct: int = 0
    has_accuracy: bool = True  # False where predictions are not tokens (codec, vocoder)


@dataclass
class ModelOutput:
    loss: torch.Tensor  # weighted mean cross-entropy over every output token and eos of the batch
    stats: dict[str, TaskStats]  # per task, for logging loss and token accuracy separately
    values: dict[str, float] = field(default_factory=dict)  # other batch means to log (codec loss terms, ...)
    norm: float = 0.0  # what ``loss`` is a mean over (its weighted token count); 0 = the stats' tokens

    def denominator(self) -> float:
        return self.norm or float(sum(s.tokens for s in self.stats.values()))


def default_decoding(modality: Modality) -> DecodeOptions:
    """How outputs of a modality decode unless told otherwise: text greedy; codec tokens sampled
    (top-k 25, as LauraGPT does) for at most 750 frames (30 s at 25 Hz)."""
    if modality is Modality.CODEC:
        return DecodeOptions(strategy="sample", top_k=25, max_new_tokens=750)
    return DecodeOptions()


class LauraGPT(nn.Module):
    def __init__(self, encoder: AudioEncoder, backbone: Backbone, layout: VocabLayout, tasks: dict[str, Task],
                 ctc_weight: float = 0.0, ctc_embed: bool = False, length_groups: int = 4):
        super().__init__()
        missing = set(layout.tasks) ^ set(tasks)
        if missing:
            raise ConfigError(f"tasks {sorted(missing)} are in only one of the vocabulary layout and the task set")
        if backbone.vocab_size != layout.size:
            raise ConfigError(f"backbone vocabulary {backbone.vocab_size} != layout size {layout.size}")
        self.encoder, self.backbone, self.layout = encoder, backbone, layout
        # Text ids, then the blank: an ASR objective on the encoder's output, as LauraGPT's encoder is
        # ASR-trained (on the mini corpus it trains the adapter well, but did not speed up the GPT's asr).
        self.ctc_weight = ctc_weight
        self.ctc_head = nn.Linear(backbone.hidden_size, layout.text_size + 1) if ctc_weight > 0 else None
        if ctc_embed and self.ctc_head is None:
            raise ConfigError("ctc_embed needs the CTC head: set ctc_weight > 0")
        self.ctc_embed = ctc_embed
        if length_groups < 1:
            raise ConfigError(f"length_groups must be at least 1, got {length_groups}")
        self.length_groups = length_groups
        self.inputs = {name: t.input for name, t in tasks.items()}
        self.outputs = {name: t.output for name, t in tasks.items()}
        self.transcribing = {name for name, t in tasks.items() if t.transcribes and t.input is Modality.AUDIO}
        self.silent_text_ids: tuple[int, ...] = ()  # see never_emit
        self.trunk_cache: TrunkCache | None = None  # frozen-trunk frames by audio key (set by training)
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
            prefix = () if it.prefix is None else it.prefix.tolist()
            seqs.append(build_sequence(self.layout, it.task, self.outputs[it.task], source, target, prefix))
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
        keys = [it.audio_key for it in audio] if audio else None
        transcripts = [it.transcript for it in audio] if audio else None
        return Batch([it.task for it in items], ids, is_audio, mask, labels, wav, wav_lengths, keys, transcripts)

    def embed(self, batch: Batch) -> torch.Tensor:
        """Input embeddings ``[B, T, D]``: token embeddings, with audio positions replaced by the encoder's output."""
        return self._embed(batch)[0]

    def _embed(self, batch: Batch) -> tuple[torch.Tensor, AudioEncoding | None]:
        """``embed``, and the audio items' encoding (None without audio)."""
        device = self.device
        emb = self.backbone.embed(batch.ids.to(device))
        audio = None
        if batch.wav is not None:
            audio = self.encode_audio(batch.wav.to(device), batch.wav_lengths.to(device), batch.audio_keys)
            valid = torch.arange(audio.embeddings.shape[1], device=device)[None, :] < audio.lengths[:, None]
            frames = audio.embeddings[valid].to(emb.dtype)  # item by item, frame by frame: the is_audio positions
            is_audio = batch.is_audio.to(device)
            if frames.shape[0] != int(is_audio.sum()):
                raise RuntimeError("the audio encoder produced a different number of frames than output_lengths() said")
            emb = emb.masked_scatter(is_audio[..., None], frames)
        elif self.always_run_encoder:
            # A tenth of a second of silence, added with weight 0: the encoder gets zero gradients.
            silence = torch.zeros(1, self.encoder.sample_rate // 10, device=device)
            enc, _ = self.encoder(silence, torch.tensor([silence.shape[1]], device=device))
            emb = emb + 0.0 * enc.sum()
        return emb, audio

    def encode_audio(self, wav: torch.Tensor, wav_lengths: torch.Tensor,
                     keys: list[str | None] | None = None) -> AudioEncoding:
        """The encoder's output (a frozen trunk's frames from ``trunk_cache`` where it holds them), the CTC
        head's logits on it, and the embeddings the GPT reads: the encoder's output, plus with
        ``ctc_embed`` the text embedding its CTC posterior expects."""
        if self.trunk_cache is None or keys is None or not self.encoder.trunk_frozen:
            enc, lengths = self.encoder(wav, wav_lengths)
        else:
            hidden, lengths = self.trunk_cache.frames(keys, wav, wav_lengths, self.encoder.trunk,
                                                      self.encoder.trunk_parameters())
            enc, lengths = self.encoder.adapt(hidden, lengths)
        logits = self.ctc_head(enc) if self.ctc_head is not None else None
        emb = enc
        if self.ctc_embed:
            posterior = logits.softmax(-1)[..., : self.layout.text_size]  # the blank adds nothing
            table = self.backbone.embed(torch.arange(self.layout.text_size, device=enc.device)[None])[0]
            emb = enc + posterior.to(table.dtype) @ table
        return AudioEncoding(emb, lengths, enc, logits)

    def _ctc_only(self, batch: Batch) -> ModelOutput:
        if self.ctc_head is None:
            raise ConfigError("a CTC-only step needs the CTC head: set ctc_weight > 0")
        ctc = None
        if batch.wav is not None and batch.transcripts:
            device = self.device
            audio = self.encode_audio(batch.wav.to(device), batch.wav_lengths.to(device), batch.audio_keys)
            ctc = self.ctc_loss(audio, batch.transcripts)
        # Data-parallel training needs every parameter used: there the GPT takes part with weight 0. Alone,
        # its gradients stay None, so the optimizer skips it (a CTC-only step then costs next to nothing).
        used = [p for p in self.parameters() if p.requires_grad] if torch.distributed.is_initialized() else []
        idle = sum((p.sum() for p in used), torch.zeros((), device=self.device)) * 0.0
        if ctc is None:
            return ModelOutput(idle.requires_grad_(), {}, norm=1.0)
        n = sum(t is not None and len(t) > 0 for t in batch.transcripts)
        stats = {"ctc": TaskStats(loss_sum=float(ctc.detach()) * n, tokens=n, has_accuracy=False)}
        return ModelOutput(ctc + idle, stats, norm=float(n))

    def ctc_loss(self, audio: AudioEncoding, transcripts: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
        """Mean CTC loss (per target token) of the audio items that have a transcript; None if none has."""
        have = [i for i, t in enumerate(transcripts) if t is not None and len(t) > 0]
        if not have or audio.ctc_logits is None:
            return None
        index = torch.tensor(have, device=audio.lengths.device)
        logp = audio.ctc_logits.index_select(0, index).float().log_softmax(-1).transpose(0, 1)
        targets = [transcripts[i].to(index.device) for i in have]
        return F.ctc_loss(logp, torch.cat(targets), audio.lengths.index_select(0, index),
                          torch.tensor([len(t) for t in targets], device=index.device), blank=self.layout.text_size,
                          zero_infinity=True)

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    # -- training -----------------------------------------------------------------------------

    def forward(self, batch: Batch, task_weights: dict[str, float] | None = None, ctc_only: bool = False) -> ModelOutput:
        """The loss: cross-entropy on output tokens and eos, a mean weighted by ``task_weights`` (a task's
        tokens count that many times; default 1), so that a task with short targets (a label) is not
        outweighed by tasks with long ones (codec frames) merely by its token count; plus the CTC loss.
        ``ctc_only``: the CTC loss alone, through the encoder only (no GPT: a step costs next to nothing)."""
        if ctc_only:
            return self._ctc_only(batch)
        device = self.device
        mask = batch.mask.to(device)
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        emb, audio = self._embed(batch)
        labels = batch.labels.to(device)
        # Rows of like length run through the GPT together, each group padded to its own longest row:
        # tasks mixed in one batch differ in length (a tts row is codec frames), and padded to the
        # longest the demo's batches were 58% padding. Rows never interact, so the loss is the same.
        parts = []
        for group in length_groups(mask.sum(1).tolist(), self.length_groups):
            index = torch.tensor(group, device=device)
            width = int(mask[index].sum(1).max())
            hidden = self.backbone(emb[index, :width], mask[index, :width], positions[index, :width], None)
            group_labels = labels[index, :width]
            scored = group_labels != IGNORE_INDEX
            # only output positions reach the softmax
            parts.append((self.backbone.logits(hidden[scored]).float(), group_labels[scored],
                          index[:, None].expand_as(group_labels)[scored]))
        logits, targets, rows = (torch.cat(p) for p in zip(*parts))
        token_loss = F.cross_entropy(logits, targets, reduction="none")
        row_weights = torch.tensor([(task_weights or {}).get(t, 1.0) for t in batch.tasks], device=device)
        weights = row_weights[rows]
        norm = weights.sum().clamp_min(1e-8)
        correct = logits.argmax(-1) == targets
        stats: dict[str, TaskStats] = {}
        for b, task in enumerate(batch.tasks):
            mine = rows == b
            s = stats.setdefault(task, TaskStats())
            s.loss_sum += float(token_loss[mine].detach().sum())
            s.tokens += int(mine.sum())
            s.correct += int(correct[mine].sum())
        loss, values = (token_loss * weights).sum() / norm, {}
        if self.ctc_head is not None:
            ctc = self.ctc_loss(audio, batch.transcripts) if audio is not None and batch.transcripts else None
            if ctc is None:  # every parameter takes part in every step (data-parallel training needs it)
                ctc = sum(p.sum() for p in self.ctc_head.parameters()) * 0.0
            else:
                values["ctc"] = float(ctc.detach())
            loss = loss + self.ctc_weight * ctc
        return ModelOutput(loss, stats, values, norm=float(norm))

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
        """Continue each item's ``[input] [task] [prefix]`` prompt; returns the new output ids (without
        the prefix and eos).

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
            batch = self.collate([Item(items[i].task, items[i].source, audio_key=items[i].audio_key,
                                       prefix=items[i].prefix) for i in index], left_pad=True)
            device = self.device
            embeds, audio = self._embed(batch)
            prompt = Prompt(
                embeds=embeds,
                mask=batch.mask.to(device),
                ranges=self.layout.output_ranges(modality, self.silent_text_ids),
                max_new=torch.full((len(index),), opts.max_new_tokens, dtype=torch.long, device=device),
            )
            rows = [generator[i] for i in index] if per_item else generator
            scorer = self._ctc_scorer(batch, audio, opts, prompt.ranges) if modality is Modality.TEXT else None
            for i, out in zip(index, decode(self.backbone, prompt, self.layout.eos_id, opts, rows, scorer)):
                results[i] = out
        return results

    def _ctc_scorer(self, batch: Batch, audio: AudioEncoding | None, opts: DecodeOptions,
                    ranges: list[tuple[int, int]]) -> CTCPrefixScorer | None:
        """With ``opts.ctc_weight``, the CTC prefix scorer of the batch's transcribing items (asr)."""
        transcribing = [t in self.transcribing for t in batch.tasks]
        if opts.ctc_weight == 0 or not any(transcribing):
            return None
        if self.ctc_head is None or audio is None:
            raise ConfigError("ctc_weight > 0 in decoding needs a model trained with a CTC head (model.ctc_weight > 0)")
        # The CTC head's rows are the audio items; a text-input row gets a dummy row it never uses.
        audio_row = (torch.tensor([self.inputs[t] is Modality.AUDIO for t in batch.tasks]).cumsum(0) - 1).clamp(min=0)
        audio_row = audio_row.to(audio.lengths.device)
        return CTCPrefixScorer(audio.ctc_logits.float().log_softmax(-1)[audio_row], audio.lengths[audio_row],
                               torch.tensor(transcribing, device=audio.lengths.device),
                               allowed_ids(ranges, audio.lengths.device), self.layout.eos_id, opts.ctc_weight,
                               opts.ctc_pre_beam)

    # -- bookkeeping --------------------------------------------------------------------------

    def parameter_counts(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"encoder": count(self.encoder), "backbone": count(self.backbone), "total": count(self)}


def build_model(cfg: ModelConfig, registry: "Registry", layout: VocabLayout | None = None,
                extra_tasks: Sequence[str] = ()) -> LauraGPT:
    """Build the components named in ``cfg`` and size the backbone's vocabulary to the layout
    (``layout``, e.g. a checkpoint's, or the one ``cfg`` defines plus ``extra_tasks`` after its own, so
    the ids of ``cfg.tasks`` do not move)."""
    backbone = registry.create("backbone", cfg.backbone, **cfg.backbone_conf)
    encoder = registry.create("encoder", cfg.encoder, **{**cfg.encoder_conf, "output_dim": backbone.hidden_size})
    if layout is None:
        text_size = cfg.text_vocab_size or backbone.vocab_size
        if cfg.backbone_conf.get("pretrained") and text_size != backbone.vocab_size:
            raise ConfigError(
                f"text_vocab_size {text_size} differs from the pretrained backbone's vocabulary {backbone.vocab_size}"
            )
        layout = VocabLayout.create(text_size, cfg.tasks or registry.tasks(), cfg.codec_size).with_tasks(extra_tasks)
    tasks = {name: registry.task(name) for name in layout.tasks}
    backbone.resize_vocab(layout.size)
    return LauraGPT(encoder, backbone, layout, tasks, cfg.ctc_weight, cfg.ctc_embed, cfg.length_groups)


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


NAMED_CONFIGS = Path(__file__).parents[1] / "configs" / "model"


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
    verify_if_saved_by_laura(directory)  # a checkpoint or average: every file as it was written
    cfg = load_config(ModelConfig, directory / CONFIG_FILE)
    saved = VocabLayout.from_dict(json.loads((directory / LAYOUT_FILE).read_text()))
    if expected_layout is not None:
        expected_layout.check_same(saved, str(directory / LAYOUT_FILE))
    model = build_model(cfg, registry, layout=saved)
    model.load_state_dict(load_file(str(directory / MODEL_FILE)))
    return model, cfg
