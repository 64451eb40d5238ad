"""Training data: task manifests -> validated, mixed, duration-bucketed batches of model ``Item``s.

    manifest per task --filter_valid--> CutSet --speed perturbation--> tagged with its task
      --CutSet.mux--> one stream --DynamicBucketingSampler--> batches (CutSets)
      --LauraDataset--> DataBatch(ids, [Item]) --LauraGPT.collate--> model Batch

Batches hold cuts of similar duration (little padding) and may mix tasks; text-only cuts take part
with their reading-time estimate. By default an epoch visits every cut once, the tasks interleaved
in proportion to their sizes; with ``endless`` every task repeats and is drawn by its weight, and
training counts steps. Everything random draws from ``DataConfig.seed`` (and the sampler's epoch).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

import torch
from omegaconf import MISSING

from laura_core.data.prompts import PromptConfig, VoicePrompt, prompt_pools
from laura_core.data.validate import ValidationOptions, codes_problem, filter_valid
from laura_core.errors import ConfigError, DataError
from laura_core.interfaces import Tokenizer
from laura_core.manifest import CODEC, CODES, cut_to_record, read_cuts
from laura_core.model.lauragpt import Item
from laura_core.model.vocab import VocabLayout
from laura_core.task import Modality, Task

if TYPE_CHECKING:
    from lhotse import CutSet

log = logging.getLogger(__name__)

TASK = "task"  # custom field naming a cut's task once the task streams are mixed


@dataclass
class TaskData:
    task: str = MISSING
    manifest: str = MISSING  # DST/<task>/<split>.jsonl.gz
    weight: float = 1.0  # share of the stream (endless mode)
    loss_weight: float = 1.0  # how much each of its target tokens counts in the loss (kind lm)


@dataclass
class NoiseConfig:
    manifest: str = ""  # a CutSet of noise recordings; "" = no noise
    snr: list[float] = field(default_factory=lambda: [10.0, 20.0])  # dB, drawn uniformly
    prob: float = 0.5  # share of audio inputs that get noise


@dataclass
class DataConfig:
    tasks: list[TaskData] = field(default_factory=list)
    sample_rate: int = 16000  # the audio encoder's rate: audio is resampled to it when read
    max_duration: float = 200.0  # seconds per batch, summed over its cuts
    max_cuts: int = 0  # > 0: batches of this many cuts in random order instead of duration buckets
    segment: float = 0.0  # seconds; kind codec trains on random crops this long (shorter clips are padded)
    num_buckets: int = 20
    shuffle: bool = True
    seed: int = 0
    endless: bool = False  # repeat every task forever, drawn by weight
    speed_factors: list[float] = field(default_factory=list)  # e.g. [0.9, 1.1]: audio->text tasks get a copy per factor
    noise: NoiseConfig = field(default_factory=NoiseConfig)  # mixed into the audio input of every audio-input task
    prompt: PromptConfig = field(default_factory=PromptConfig)  # voice prompts for promptable tasks (zero-shot tts)
    validation: ValidationOptions = field(default_factory=ValidationOptions)


@dataclass
class DataBatch:
    ids: list[str]
    items: list[Item]
    references: list[dict] = field(default_factory=list)  # what `laura score` compares outputs against


# -- the stream of cuts -------------------------------------------------------------------------


def mix_tasks(cfg: DataConfig, tasks: Mapping[str, Task], require_codes: bool = True) -> "CutSet":
    """One lazy stream of every task's valid cuts, each tagged with its task. Audio-output tasks need
    their targets' codes, unless ``require_codes`` is off (codec training reads audio only)."""
    from lhotse import CutSet

    if not cfg.tasks:
        raise ConfigError("the data config lists no tasks")
    if not cfg.endless and any(spec.weight != 1.0 for spec in cfg.tasks):
        raise ConfigError("task weights need endless=true: an epoch visits each cut once, so sizes set the mix")
    streams, sizes = [], []
    for spec in cfg.tasks:
        if spec.task not in tasks:
            known = ", ".join(sorted(tasks))
            raise ConfigError(f"the data config names task {spec.task!r}, which is not one of the model's tasks "
                              f"({known}; model.tasks sets them, `laura tasks` lists the registered ones)")
        task = tasks[spec.task]
        if spec.loss_weight < 0:
            raise ConfigError(f"data.tasks: {spec.task} has loss_weight {spec.loss_weight}; it must not be negative")
        options = cfg.validation
        if task.output is Modality.CODEC and require_codes:  # training reads the target's codes
            options = dataclasses.replace(options, require_codes=True)
        cuts, report = filter_valid(read_cuts(spec.manifest), task, options, spec.manifest)
        size = report.checked - report.bad
        if size == 0:
            raise DataError(f"{spec.manifest}: no valid {task.name} records")
        if cfg.speed_factors and task.input is Modality.AUDIO and task.output is Modality.TEXT:
            # Not for codec outputs: the target would no longer match the input's timing.
            cuts, size = speed_perturbed(cuts, cfg.speed_factors), size * (1 + len(cfg.speed_factors))
        if cfg.endless:
            cuts = cuts.repeat()
        streams.append(cuts.map(partial(_tagged, task=task.name)))
        sizes.append(size)
    if len(streams) == 1:
        return streams[0]
    weights = [spec.weight for spec in cfg.tasks] if cfg.endless else sizes
    return CutSet.mux(*streams, weights=weights, seed=cfg.seed)


def speed_perturbed(cuts: "CutSet", factors: Sequence[float]) -> "CutSet":
    """The cuts, then one speed-perturbed copy of them per factor (ids get an ``_sp<factor>`` suffix)."""
    if any(f <= 0 or f == 1.0 for f in factors):
        raise ConfigError(f"speed factors must be positive and not 1.0, got {list(factors)}")
    out = cuts
    for factor in factors:
        out = out + cuts.perturb_speed(factor)
    return out


def _tagged(cut, task: str):
    return cut.with_custom(TASK, task)


def make_sampler(cuts: "CutSet", cfg: DataConfig, world_size: int = 1, rank: int = 0) -> "MeteredSampler":
    """Duration-bucketed batches (or ``max_cuts`` per batch); with ``world_size`` > 1, this rank's share
    of them (``shard_batches``)."""
    from lhotse.dataset import DynamicBucketingSampler, DynamicCutSampler, SimpleCutSampler

    # world_size=1 always: lhotse would otherwise shard by itself once torch.distributed is up,
    # leaving the ranks with unequal batch counts at the end of an epoch.
    if cfg.max_cuts > 0:  # equal-length crops (codec training): nothing to bucket
        sampler = SimpleCutSampler(cuts, max_cuts=cfg.max_cuts, shuffle=cfg.shuffle, seed=cfg.seed, world_size=1,
                                   rank=0)
    elif cfg.num_buckets == 1:  # one bucket: batches by duration, in stream order (lhotse's bucketer needs 2+)
        sampler = DynamicCutSampler(cuts, max_duration=cfg.max_duration, shuffle=cfg.shuffle, seed=cfg.seed,
                                    world_size=1, rank=0)
    else:
        try:
            sampler = DynamicBucketingSampler(cuts, max_duration=cfg.max_duration, num_buckets=cfg.num_buckets,
                                              shuffle=cfg.shuffle, seed=cfg.seed, world_size=1, rank=0)
        except AssertionError as e:  # lhotse's check that there are more cuts than buckets
            raise ConfigError(f"num_buckets={cfg.num_buckets}: {e} (set data.num_buckets / valid.num_buckets "
                              f"lower; 1 batches without buckets)") from None
    return MeteredSampler(sampler, world_size=world_size, rank=rank)


def make_loader(cfg: DataConfig, tasks: Mapping[str, Task], tokenizer: Tokenizer, layout: VocabLayout,
                num_workers: int = 0) -> torch.utils.data.DataLoader:
    """Batches of ``DataBatch``; ``loader.sampler`` is the ``MeteredSampler`` (``set_epoch``, ``stats``)."""
    sampler = make_sampler(mix_tasks(cfg, tasks), cfg)
    dataset = LauraDataset(tasks, tokenizer, layout, cfg)
    return torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers)


# -- padding efficiency -------------------------------------------------------------------------


@dataclass
class PaddingStats:
    """Real vs padded duration: a batch costs its size times its longest cut."""

    real: float = 0.0  # seconds
    padded: float = 0.0
    per_batch: list[float] = field(default_factory=list)  # real / padded of each batch

    def add(self, durations: Sequence[float]) -> None:
        if not durations:
            return
        real, padded = sum(durations), len(durations) * max(durations)
        self.real += real
        self.padded += padded
        self.per_batch.append(real / padded)

    @property
    def ratio(self) -> float:
        return self.real / self.padded if self.padded else 1.0


def padding_efficiency(batches: Iterable[Iterable]) -> PaddingStats:
    """Padding statistics of batches of cuts (a sampler's output, for one)."""
    stats = PaddingStats()
    for batch in batches:
        stats.add([cut.duration for cut in batch])
    return stats


class MeteredSampler:
    """Yields the batches of a lhotse sampler and measures their padding (``stats``, reset each epoch);
    logs the ratio every ``log_every`` batches and at the end of an epoch."""

    def __init__(self, sampler, log_every: int = 1000, world_size: int = 1, rank: int = 0):
        self.sampler = sampler
        self.world_size, self.rank = world_size, rank
        self.log_every = log_every
        self.stats = PaddingStats()

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator["CutSet"]:
        self.stats = PaddingStats()
        for batch in shard_batches(self.sampler, self.world_size, self.rank):
            self.stats.add([cut.duration for cut in batch])
            if len(self.stats.per_batch) % self.log_every == 0:
                self._log()
            yield batch
        self._log()

    def _log(self) -> None:
        log.info("padding efficiency %.3f over %d batches", self.stats.ratio, len(self.stats.per_batch))


def shard_batches(batches: Iterable, world_size: int, rank: int) -> Iterator[list]:
    """This rank's share of a stream of cut batches that every rank draws in the same order.

    Batches are dealt round-robin, so every rank takes the same number of steps and every cut is
    visited once. The cuts of a last, incomplete round are pooled and dealt cut by cut; when they are
    fewer than the ranks, they join the shortest batches of the round before instead (those batches
    exceed max_duration by one cut). Only an epoch of fewer cuts than ranks yields nothing.
    """
    if world_size == 1:
        yield from batches
        return
    held = None  # the newest complete round, kept until it is known not to be the last
    round_: list[list] = []
    for batch in batches:
        round_.append(list(batch))
        if len(round_) == world_size:
            if held is not None:
                yield held[rank]
            held, round_ = round_, []
    rest = sorted((cut for batch in round_ for cut in batch), key=lambda cut: cut.duration)
    if len(rest) >= world_size:
        if held is not None:
            yield held[rank]
        yield rest[rank::world_size]
    elif held is not None:
        shortest = sorted(range(world_size), key=lambda r: sum(cut.duration for cut in held[r]))
        for cut, r in zip(rest, shortest):
            held[r].append(cut)
        yield held[rank]


# -- cuts to model items ------------------------------------------------------------------------


class LauraDataset(torch.utils.data.Dataset):
    """Turns a batch of tagged cuts (from ``make_sampler``) into model items, mixing noise into audio
    inputs when configured."""

    def __init__(self, tasks: Mapping[str, Task], tokenizer: Tokenizer, layout: VocabLayout, cfg: DataConfig,
                 codec_identity: str = ""):
        if tokenizer.vocab_size > layout.text_size:
            raise ConfigError(f"the tokenizer has {tokenizer.vocab_size} ids, the layout's text range {layout.text_size}")
        self.tasks, self.tokenizer, self.layout, self.codec_identity = tasks, tokenizer, layout, codec_identity
        self.sample_rate, self.seed, self.noise_cfg = cfg.sample_rate, cfg.seed, cfg.noise
        # Eager: the mixer reshuffles the noise for every batch.
        self.noise = read_cuts(cfg.noise.manifest).to_eager().resample(cfg.sample_rate) if cfg.noise.manifest else None
        if not 0.0 <= cfg.prompt.prob <= 1.0 or cfg.prompt.seconds <= 0:
            raise ConfigError(f"data.prompt: prob must be in [0, 1] and seconds > 0, got {cfg.prompt}")
        self.prompt_prob = cfg.prompt.prob
        self.prompts = prompt_pools([spec for spec in cfg.tasks if tasks[spec.task].prompt_field],
                                    cfg.prompt.seconds) if cfg.prompt.prob > 0 else {}

    def __getitem__(self, cuts: "CutSet") -> DataBatch:
        cuts = list(cuts)
        tasks = [self._task_of(cut) for cut in cuts]
        heard = iter(self._with_noise([c for c, t in zip(cuts, tasks) if t.input is Modality.AUDIO]))
        # Seeded by the batch, so a resumed run draws what an uninterrupted one would.
        rng = random.Random(f"{self.seed}|targets|" + "|".join(c.id for c in cuts))
        items = [
            cut_to_item(cut, task, self.tokenizer, self.layout, self.sample_rate,
                        next(heard) if task.input is Modality.AUDIO else None, self.codec_identity, rng,
                        self._prompt(cut, task, rng))
            for cut, task in zip(cuts, tasks)
        ]
        references = [task.to_reference(cut_to_record(cut)) for cut, task in zip(cuts, tasks)]
        return DataBatch([cut.id for cut in cuts], items, references)

    def _prompt(self, cut, task: Task, rng: random.Random) -> VoicePrompt | None:
        pool = self.prompts.get(task.name)
        if pool is None or rng.random() >= self.prompt_prob:
            return None
        return pool.draw(cut, rng)

    def _task_of(self, cut) -> Task:
        name = (cut.custom or {}).get(TASK)
        if name not in self.tasks:
            raise DataError(f"cut {cut.id!r} has no known task tag ({name!r}); batch cuts from mix_tasks()")
        return self.tasks[name]

    def _with_noise(self, cuts: list) -> list:
        """The cuts to read the audio inputs from: the same cuts, some mixed with noise."""
        if self.noise is None or not cuts:
            return cuts
        from lhotse import CutSet

        # Seeded by the batch, so the noise does not depend on which worker loads it.
        rng = random.Random(f"{self.seed}|" + "|".join(c.id for c in cuts))
        resampled = CutSet([c.resample(self.sample_rate) for c in cuts])
        cfg = self.noise_cfg
        return list(resampled.mix(self.noise, snr=list(cfg.snr), mix_prob=cfg.prob, preserve_id="left",
                                  seed=rng, random_mix_offset=True))


def cut_to_item(cut, task: Task, tokenizer: Tokenizer, layout: VocabLayout, sample_rate: int, audio=None,
                codec_identity: str = "", rng: random.Random | None = None, prompt: VoicePrompt | None = None) -> Item:
    """The model item of a cut: audio input read from ``audio`` (default: the cut) at ``sample_rate``,
    text input and text target tokenized, codec target from the cut's codes (which must come from the
    codec ``codec_identity``, when given), and an audio input's transcript (its supervision's text)
    tokenized, for the auxiliary CTC loss. Where a record holds several targets (an aac clip's five
    captions), ``rng`` picks one, so that every epoch may teach another; without it, the first. A voice
    ``prompt`` puts its text before the source and its codes before the target."""
    source = item_source(cut, task, tokenizer, sample_rate, audio)
    prefix = None
    if prompt is not None:
        source, prefix = prompted(source, prompt, tokenizer, layout)
    if task.output is Modality.CODEC:
        target = codec_ids(cut, layout, codec_identity)
    else:
        examples = task.to_examples(cut_to_record(cut))
        target = text_ids(tokenizer, examples[rng.randrange(len(examples)) if rng else 0].target)
    key = transcript = None
    if task.input is Modality.AUDIO:
        key = audio_key(audio if audio is not None else cut)
        said = cut.supervisions[0].text if cut.supervisions else None
        transcript = text_ids(tokenizer, said) if isinstance(said, str) and said.strip() else None
    return Item(task.name, source, target, key, transcript, prefix)


def prompted(source: torch.Tensor, prompt: VoicePrompt, tokenizer: Tokenizer,
             layout: VocabLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """The source ids with the prompt's text before them, and the prompt's codes as output ids."""
    if prompt.text:
        source = torch.cat([text_ids(tokenizer, prompt.text), source])
    return source, torch.tensor([layout.codec_id(code) for code in prompt.codes], dtype=torch.long)


def audio_key(cut) -> str | None:
    """What identifies the audio a cut reads (its recording with any transforms, and the span), or
    None where it is mixed from several sources (noise augmentation: a new mixture each time)."""
    recording = getattr(cut, "recording", None)
    if recording is None or not hasattr(cut, "channel"):
        return None
    spec = json.dumps([recording.to_dict(), cut.start, cut.duration, cut.channel], sort_keys=True, default=str)
    return hashlib.blake2b(spec.encode(), digest_size=16).hexdigest()


def item_source(cut, task: Task, tokenizer: Tokenizer, sample_rate: int, audio=None) -> torch.Tensor:
    """What the model reads of a cut: its waveform ``[S]`` at ``sample_rate`` (from ``audio`` when
    given, e.g. a noisy copy) or its source text's ids ``[N]``."""
    if task.input is Modality.AUDIO:
        return load_waveform(audio if audio is not None else cut, sample_rate)
    return text_ids(tokenizer, task.to_source(cut_to_record(cut)))


def load_waveform(cut, sample_rate: int) -> torch.Tensor:
    """The cut's audio as a mono float waveform ``[S]`` at ``sample_rate``."""
    try:
        wav = cut.resample(sample_rate).load_audio()
    except Exception as e:  # lhotse and its audio backends raise several types
        raise DataError(f"cut {cut.id!r}: cannot load audio ({e})") from None
    return torch.from_numpy(wav).mean(0)


def text_ids(tokenizer: Tokenizer, text: str) -> torch.Tensor:
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


def codec_ids(cut, layout: VocabLayout, codec_identity: str = "") -> torch.Tensor:
    """The cut's first-group codec codes as ids of the unified vocabulary."""
    custom = cut.custom or {}
    codes = custom.get(CODES)
    problem = codes_problem(codes)
    if problem:
        raise DataError(f"cut {cut.id!r}, field {CODES!r}: {problem}")
    if codec_identity and custom.get(CODEC) != codec_identity:
        raise DataError(f"cut {cut.id!r}, field {CODEC!r}: its codes come from codec {custom.get(CODEC)!r}, "
                        f"the model's codec is {codec_identity!r}: encode the audio again with it")
    try:
        return torch.tensor([layout.codec_id(code) for code in codes], dtype=torch.long)
    except ValueError as e:
        raise DataError(f"cut {cut.id!r}, field {CODES!r}: {e}") from None
