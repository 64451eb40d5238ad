"""Training kinds ``codec`` and ``vocoder``: the audio-output side, trained apart from the LM and frozen.

    codec     random crops of ``data.segment`` seconds of the manifests' audio, ``data.max_cuts`` per
              batch -> the codec's reconstruction losses, plus its discriminator from
              ``gan.start_step`` on (generator and discriminator are two optimizer groups of one step)
    vocoder   tts/se cuts -> the target audio encoded by the frozen codec (all groups) -> the vocoder
              learns to turn first-group codes and the task's condition (text, or noisy speech) into
              the rest; a vocoder with ``prompt_context`` also hears, for a ``data.prompt.prob`` share
              of the promptable items, the first ``data.prompt.seconds`` of another utterance of their
              speaker (as zero-shot tts gives it at inference)

A codec checkpoint is a codec directory (``laura_core.model.codec``) plus the full training weights, so
it is what ``codec.path`` points at; a vocoder checkpoint records the identity of its codec and
refuses another on resume.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

from laura_core.audio import pad_waves
from laura_core.data.batches import DataConfig, load_waveform, make_sampler, mix_tasks, text_ids
from laura_core.data.prompts import prompt_pools
from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import Codec, TrainableCodec, Vocoder
from laura_core.io import atomic_write_bytes, verify_if_saved_by_laura, write_json
from laura_core.manifest import cut_to_record, field_recording
from laura_core.model.codec import load_codec, resolved_options, save_codec, vocoder_options
from laura_core.model.lauragpt import MODEL_FILE, ModelOutput, TaskStats
from laura_core.model.synthesis import voice_context
from laura_core.task import Modality
from laura_core.training.config import TrainConfig

if TYPE_CHECKING:
    from laura_core.registry import Registry

VOCODER_FILE = "vocoder.json"  # name, options, codec and tokenizer identities of a vocoder checkpoint


def _save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in state.items()}))


def _load_weights(module: nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    module.load_state_dict(load_file(str(path)))


class EpochBatches:
    """A sampler's batches, each paired with the epoch it belongs to (random crops differ per epoch)."""

    def __init__(self, sampler):
        self.sampler, self.epoch = sampler, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, batch) for batch in self.sampler)


# -- codec -------------------------------------------------------------------------------------


class ClipBatch(NamedTuple):
    ids: list[str]
    wav: torch.Tensor  # [B, 1, S]
    lengths: torch.Tensor  # [B]


class Clips(torch.utils.data.Dataset):
    """Random crops of ``segment`` seconds at the codec's rate; the offset is a function of (seed,
    epoch, cut), so a resumed run reads the same audio."""

    def __init__(self, segment: float, sample_rate: int, seed: int):
        self.segment, self.sample_rate, self.seed = segment, sample_rate, seed

    def __getitem__(self, tagged: tuple[int, Any]) -> ClipBatch:
        epoch, cuts = tagged
        waves = []
        for cut in cuts:
            if cut.duration > self.segment:
                offset = random.Random(f"{self.seed}|{epoch}|{cut.id}").uniform(0, cut.duration - self.segment)
                cut = cut.truncate(offset=offset, duration=self.segment, preserve_id=True)
            waves.append(load_waveform(cut, self.sample_rate)[:round(self.segment * self.sample_rate)])
        wav, lengths = pad_waves(waves, round(self.segment * self.sample_rate))
        return ClipBatch([cut.id for cut in cuts], wav, lengths)


class CodecTraining(nn.Module):
    """The codec under training as one module whose forward is the whole loss, as DDP needs."""

    def __init__(self, codec: TrainableCodec):
        super().__init__()
        self.codec = codec

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor, adversarial: bool):
        losses = self.codec.training_losses(wav, lengths, adversarial)
        return losses.generator, losses.discriminator, losses.values  # DDP finds tensors in tuples


class CodecKind:
    def __init__(self, cfg: TrainConfig, registry: "Registry"):
        self.cfg, self.name = cfg, cfg.codec.name
        self.options = resolved_options(cfg.codec, registry)
        self.codec = registry.create("codec", self.name, **self.options)
        if not isinstance(self.codec, TrainableCodec):
            raise ConfigError(f"codec {self.name!r} cannot be trained here (it is not a TrainableCodec)")
        self.model = CodecTraining(self.codec)
        self.tasks = {spec.task: registry.task(spec.task) for spec in cfg.data.tasks if spec.task in registry.tasks()}

    def data(self, cfg: DataConfig, world_size: int = 1, rank: int = 0):
        if cfg.segment <= 0 or cfg.max_cuts <= 0:
            raise ConfigError("kind codec trains on fixed-size batches of crops: set data.segment (seconds) "
                              "and data.max_cuts (crops per batch)")
        if cfg.sample_rate != self.codec.sample_rate:
            raise ConfigError(f"data.sample_rate is {cfg.sample_rate}, the codec's rate {self.codec.sample_rate}")
        silent = sorted(spec.task for spec in cfg.tasks
                        if spec.task in self.tasks and self.tasks[spec.task].input is Modality.TEXT
                        and self.tasks[spec.task].output is Modality.TEXT)
        if silent:
            raise ConfigError(f"tasks {', '.join(silent)} have no audio to train a codec on")
        return EpochBatches(make_sampler(mix_tasks(cfg, self.tasks, require_codes=False), cfg, world_size, rank)), \
            Clips(cfg.segment, cfg.sample_rate, cfg.seed)

    def param_groups(self) -> list[dict[str, Any]]:
        groups = self.codec.param_groups()
        gan = self.cfg.gan
        return [{"name": "generator", "params": groups["generator"]},
                {"name": "discriminator", "params": groups["discriminator"], "lr_scale": gan.lr_scale,
                 "betas": tuple(gan.betas)}]

    def step(self, batch: ClipBatch, model: nn.Module, step: int) -> tuple[ModelOutput, int]:
        """Losses of a batch; the discriminator joins at ``gan.start_step`` (never in validation, step < 0)."""
        device = next(self.model.parameters()).device
        generator, discriminator, values = model(batch.wav.to(device), batch.lengths.to(device),
                                                 0 <= self.cfg.gan.start_step <= step)
        loss = generator if discriminator is None else generator + discriminator
        n = len(batch.ids)
        stats = {"codec": TaskStats(loss_sum=float(generator.detach()) * n, tokens=n, has_accuracy=False)}
        frames = sum(self.codec.frames(int(length)) for length in batch.lengths)
        return ModelOutput(loss, stats, {f"codec/{k}": float(v) for k, v in values.items()}), frames

    def describe(self, batch: ClipBatch) -> str:
        return f"{len(batch.ids)} clips of {batch.wav.shape[-1]} samples"

    def save(self, directory: Path, state: dict[str, torch.Tensor]) -> None:
        """The full training weights (discriminator included, for resuming) and a codec directory."""
        _save_weights(directory / MODEL_FILE, state)
        inference = {k.removeprefix("codec."): v for k, v in state.items()}
        inference = {k: inference[k] for k in self.codec.inference_state_dict()}
        save_codec(self.codec, self.name, self.options, directory, inference)

    def load(self, directory: Path) -> None:
        _load_weights(self.model, directory / MODEL_FILE)


# -- vocoder -----------------------------------------------------------------------------------


class VocoderBatch(NamedTuple):
    ids: list[str]
    text: list[torch.Tensor | None]  # per item, the text condition (tts) ...
    wav: list[torch.Tensor | None]  # ... or the audio condition (se)
    target: list[torch.Tensor]  # the target waveforms at the codec's rate
    prompt: list[torch.Tensor | None]  # per item, a voice prompt's waveform at the codec's rate, or None


class VocoderData(torch.utils.data.Dataset):
    def __init__(self, tasks, tokenizer, cfg: DataConfig, prompts: bool = False):
        self.tasks, self.tokenizer, self.sample_rate, self.seed = tasks, tokenizer, cfg.sample_rate, cfg.seed
        self.prompt_prob, self.prompt_seconds = cfg.prompt.prob, cfg.prompt.seconds
        self.prompts = prompt_pools([spec for spec in cfg.tasks if tasks[spec.task].prompt_field], cfg.prompt.seconds,
                                    need_codes=False) if prompts and cfg.prompt.prob > 0 else {}

    def __getitem__(self, cuts) -> VocoderBatch:
        from laura_core.data.batches import TASK

        cuts = list(cuts)
        # Seeded by the batch, so a resumed run draws what an uninterrupted one would.
        rng = random.Random(f"{self.seed}|prompts|" + "|".join(c.id for c in cuts))
        ids, texts, waves, targets, prompts = [], [], [], [], []
        for cut in cuts:
            task = self.tasks[cut.custom[TASK]]
            recording = field_recording(cut, task.target_field)
            if recording is None:
                raise DataError(f"cut {cut.id!r}, field {task.target_field!r}: no target recording")
            if task.input is Modality.TEXT:
                texts.append(text_ids(self.tokenizer, task.to_source(cut_to_record(cut))))
                waves.append(None)
            else:
                texts.append(None)
                waves.append(load_waveform(cut, self.sample_rate))
            target = recording.resample(self.sample_rate).load_audio()
            ids.append(cut.id)
            targets.append(torch.from_numpy(target).mean(0))
            prompts.append(self._prompt(cut, task, rng))
        return VocoderBatch(ids, texts, waves, targets, prompts)

    def _prompt(self, cut, task, rng: random.Random) -> torch.Tensor | None:
        pool = self.prompts.get(task.name)
        if pool is None or rng.random() >= self.prompt_prob:
            return None
        other = pool.other(cut, rng)
        recording = None if other is None else field_recording(other, task.target_field)
        if recording is None:
            return None
        seconds = min(self.prompt_seconds, recording.duration)
        return torch.from_numpy(recording.resample(self.sample_rate).load_audio(duration=seconds)).mean(0)


class VocoderTraining(nn.Module):
    """Conditions and loss in one forward (for DDP); the frozen codec is an argument, not a part."""

    def __init__(self, vocoder: Vocoder):
        super().__init__()
        self.vocoder = vocoder

    def forward(self, text, wav, codes, code_lengths, codec: Codec, prompt=None):
        cond, cond_lengths = self.vocoder.condition_features(text, wav, prompt)
        return self.vocoder.loss(codes[:, 0], code_lengths, cond, cond_lengths, codes, codec)


class VocoderKind:
    def __init__(self, cfg: TrainConfig, registry: "Registry"):
        self.cfg = cfg
        self.codec, self.codec_identity = load_codec(cfg.codec.path, registry)
        self.tokenizer = registry.create("tokenizer", cfg.tokenizer.name, **cfg.tokenizer.options)
        self.tasks = {spec.task: registry.task(spec.task) for spec in cfg.data.tasks if spec.task in registry.tasks()}
        wrong = sorted(name for name, task in self.tasks.items() if task.output is not Modality.CODEC)
        if wrong:
            raise ConfigError(f"a vocoder learns from tasks with audio outputs; {', '.join(wrong)} output text")
        # What the vocoder must fit comes from the codec and the tokenizer, never from the config.
        spec = cfg.vocoder
        self.options = {**registry.component_options("vocoder", spec.name, spec.size, **spec.options),
                        **vocoder_options(self.codec, self.tokenizer.vocab_size)}
        self.vocoder = registry.create("vocoder", spec.name, **self.options)
        self.model = VocoderTraining(self.vocoder)

    def data(self, cfg: DataConfig, world_size: int = 1, rank: int = 0):
        if cfg.sample_rate != self.codec.sample_rate:
            raise ConfigError(f"data.sample_rate is {cfg.sample_rate}, the codec's rate {self.codec.sample_rate}")
        if self.vocoder.takes_prompt and cfg is self.cfg.data and cfg.prompt.prob == 0:
            raise ConfigError("the vocoder takes voice prompts (prompt_context) but data.prompt.prob is 0: "
                              "set it (e.g. 0.5), or it never learns to read one")
        return make_sampler(mix_tasks(cfg, self.tasks), cfg, world_size, rank), \
            VocoderData(self.tasks, self.tokenizer, cfg, prompts=self.vocoder.takes_prompt)

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"name": "vocoder", "params": list(self.vocoder.parameters())}]

    def step(self, batch: VocoderBatch, model: nn.Module, step: int) -> tuple[ModelOutput, int]:
        device = next(self.model.parameters()).device
        self.codec.to(device)
        wav, lengths = pad_waves(batch.target)
        with torch.no_grad():
            codes = self.codec.encode(wav.to(device), lengths=lengths.to(device))
        code_lengths = torch.tensor([self.codec.frames(int(n)) for n in lengths], device=device)
        text = [None if t is None else t.to(device) for t in batch.text]
        noisy = [None if w is None else w.to(device) for w in batch.wav]
        prompt = voice_context(self.codec, batch.prompt) if self.vocoder.takes_prompt else None
        loss, values = model(text, noisy, codes, code_lengths, self.codec, prompt)
        frames = int(code_lengths.sum())
        stats = {"vocoder": TaskStats(loss_sum=float(loss.detach()) * frames, tokens=frames, has_accuracy=False)}
        return ModelOutput(loss, stats, {f"vocoder/{k}": float(v) for k, v in values.items()}), frames

    def describe(self, batch: VocoderBatch) -> str:
        return f"{len(batch.ids)} items ({', '.join(batch.ids[:3])}{', ...' if len(batch.ids) > 3 else ''})"

    def save(self, directory: Path, state: dict[str, torch.Tensor]) -> None:
        _save_weights(directory / MODEL_FILE, {k.removeprefix("vocoder."): v for k, v in state.items()})
        write_json(directory / VOCODER_FILE, {"name": self.cfg.vocoder.name, "options": self.options,
                                              "codec": self.codec_identity, "tokenizer": self.tokenizer.identity()})

    def load(self, directory: Path) -> None:
        saved = json.loads((directory / VOCODER_FILE).read_text())
        if saved["codec"] != self.codec_identity:
            raise ConfigError(f"codec mismatch: the config's codec is {self.codec_identity}, "
                              f"{directory / VOCODER_FILE} was trained against {saved['codec']}")
        _load_weights(self.vocoder, directory / MODEL_FILE)


def load_vocoder(directory: str | Path, registry: "Registry", codec_identity: str,
                 tokenizer_identity: str = "") -> Vocoder:
    """The vocoder of a ``vocoder`` checkpoint, in eval mode; refused unless it was trained against the
    codec ``codec_identity`` (the one that will decode its output) and, when given, with the tokenizer
    ``tokenizer_identity`` (a text condition is that tokenizer's ids)."""
    directory = Path(directory)
    if not (directory / VOCODER_FILE).is_file():
        raise ConfigError(f"{directory} is not a vocoder checkpoint: {VOCODER_FILE} is missing")
    verify_if_saved_by_laura(directory)
    saved = json.loads((directory / VOCODER_FILE).read_text())
    if saved["codec"] != codec_identity:
        raise ConfigError(f"{directory} was trained against codec {saved['codec']}, not {codec_identity}")
    if tokenizer_identity and saved.get("tokenizer", tokenizer_identity) != tokenizer_identity:
        raise ConfigError(f"{directory} was trained with tokenizer {saved['tokenizer']}, not {tokenizer_identity}")
    vocoder = registry.create("vocoder", saved["name"], **saved["options"])
    _load_weights(vocoder, directory / MODEL_FILE)
    return vocoder.eval()
