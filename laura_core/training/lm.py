"""Training kind ``lm``: LauraGPT on batches that mix tasks.

A kind owns what differs between trained models (what to build, how a batch becomes a loss, which
files make its weights loadable and what must match on resume); the loop in ``trainer.py`` owns the rest.
"""
from __future__ import annotations

import dataclasses
import json
import random
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import torch
import torchaudio
from torch import nn

from laura_core.audio import write_wav
from laura_core.data.batches import DataBatch, DataConfig, LauraDataset, make_sampler, mix_tasks
from laura_core.errors import ConfigError
from laura_core.io import verify_if_saved_by_laura, write_json
from laura_core.model.codec import load_codec
from laura_core.model.lauragpt import (LAYOUT_FILE, MODEL_FILE, Item, ModelOutput, build_model, default_decoding,
                                       save_model)
from laura_core.model.synthesis import synthesize
from laura_core.model.trunk_cache import TrunkCache
from laura_core.model.vocab import VocabLayout
from laura_core.task import Modality, Pair, Task
from laura_core.training.codec import load_vocoder
from laura_core.training.config import PARTS, TrainConfig

if TYPE_CHECKING:
    from laura_core.registry import Registry

TOKENIZER_FILE = "tokenizer.json"
CODEC_FILE = "codec.json"  # the identity of the codec whose tokens the model speaks ("" = none)


class LanguageModelKind:
    def __init__(self, cfg: TrainConfig, registry: "Registry"):
        self.cfg = cfg
        self.registry = registry
        self.tokenizer = registry.create("tokenizer", cfg.tokenizer.name, **cfg.tokenizer.options)
        model_cfg = cfg.model
        if not model_cfg.backbone_conf.get("pretrained"):
            # The text range is exactly the tokenizer's vocabulary (a trained sentencepiece model may have
            # fewer pieces than asked for), so the model never emits a text id the tokenizer cannot decode.
            model_cfg = dataclasses.replace(model_cfg, text_vocab_size=self.tokenizer.vocab_size)
        self.codec_identity = ""
        tasks = {spec.task for spec in cfg.data.tasks + (cfg.valid.tasks if cfg.valid is not None else [])}
        speaking = sorted(t for t in tasks if t in registry.tasks() and registry.task(t).output is Modality.CODEC)
        self.codec = self.vocoder = None
        if cfg.codec.path:
            # The codec fixes the codec range, and its identity goes into every checkpoint and is checked
            # against the codes' own: codes from another codec are other tokens.
            self.codec, self.codec_identity = load_codec(cfg.codec.path, registry)
            model_cfg = dataclasses.replace(model_cfg, codec_size=self.codec.codebook_size)
            if cfg.valid_vocoder:
                self.vocoder = load_vocoder(cfg.valid_vocoder, registry, self.codec_identity, self.tokenizer.identity())
        elif speaking:
            raise ConfigError(f"tasks {', '.join(speaking)} output codec tokens: set codec.path to the codec "
                              f"directory that made their codes")
        # A task the data names that the model's list lacks (a plugin task beside a size preset's eight)
        # joins after them; an unregistered one is refused by name.
        unknown = sorted(t for t in tasks if t not in registry.tasks())
        if unknown:
            raise ConfigError(f"data.tasks names {', '.join(unknown)}, which no installed plugin registers "
                              f"(`laura tasks` lists the registered tasks)" + registry.broken_note())
        extra = sorted(tasks - set(model_cfg.tasks)) if model_cfg.tasks else []
        self.model = build_model(model_cfg, registry, extra_tasks=extra)
        self.model.never_emit(self.tokenizer.never_emitted())
        if cfg.trunk_cache_gib > 0:  # used while the encoder's trunk is frozen
            # Kept in the precision the adapter reads them at under autocast: half the memory.
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
            self.model.trunk_cache = TrunkCache(int(cfg.trunk_cache_gib * 2**30), dtype)
        self.tasks = {name: registry.task(name) for name in self.model.layout.tasks}
        self.loss_weights = {spec.task: spec.loss_weight for spec in cfg.data.tasks}
        for part in PARTS:
            path = getattr(cfg.init, part)
            if path:
                if part == "backbone":
                    self._check_backbone_fits(Path(path))
                load_part(getattr(self.model, part), part, path)

    def _check_backbone_fits(self, path: Path) -> None:
        """A backbone saved by laura (a checkpoint's model file, or ``laura release --part backbone``) lies
        beside the tokenizer, codec and vocabulary layout it was trained with. Its embedding rows mean
        those tokens, so another tokenizer or layout is refused here rather than loaded into the wrong rows."""
        where = f"init.backbone {path}"
        tokenizer = path.parent / TOKENIZER_FILE
        if tokenizer.is_file():
            theirs = json.loads(tokenizer.read_text())["identity"]
            if theirs != self.tokenizer.identity():
                raise ConfigError(f"{where}: trained with tokenizer {theirs}, this run's is {self.tokenizer.identity()} "
                                  f"(its embedding rows would mean other pieces)")
        codec = path.parent / CODEC_FILE
        if codec.is_file():
            theirs = json.loads(codec.read_text())["identity"]
            if theirs and self.codec_identity and theirs != self.codec_identity:
                raise ConfigError(f"{where}: trained with codec {theirs}, this run's is {self.codec_identity}")
        layout = path.parent / LAYOUT_FILE
        if layout.is_file():
            self.model.layout.check_same(VocabLayout.from_dict(json.loads(layout.read_text())), str(layout))

    def data(self, cfg: DataConfig, world_size: int = 1, rank: int = 0) -> tuple[object, torch.utils.data.Dataset]:
        """A sampler of cut batches (this rank's share) and the dataset that turns one into a ``DataBatch``."""
        sampler = make_sampler(mix_tasks(cfg, self.tasks), cfg, world_size, rank)
        return sampler, LauraDataset(self.tasks, self.tokenizer, self.model.layout, cfg, self.codec_identity)

    def param_groups(self) -> list[dict]:
        """One clipping group; parts with an ``optim.lr_scale`` (a pretrained backbone) in groups of their own."""
        scales = self.cfg.optim.lr_scale
        scaled = {part: list(getattr(self.model, part).parameters()) for part in scales}
        taken = {id(p) for params in scaled.values() for p in params}
        groups = [{"name": "model", "params": [p for p in self.model.parameters() if id(p) not in taken]}]
        return groups + [{"name": "model", "params": scaled[part], "lr_scale": scales[part]} for part in scales]

    def step(self, batch: DataBatch, model: nn.Module, step: int = 0) -> tuple[ModelOutput, int]:
        """The batch's loss and per-task stats, and the sequence positions it cost; ``model`` runs the
        forward (``self.model`` or its distributed wrapper). The first ``ctc_steps`` steps train the
        encoder's adapter and CTC head alone, on the batch's transcribed audio."""
        ctc_only = 0 <= step < self.cfg.ctc_steps
        items = [it for it in batch.items if it.transcript is not None] if ctc_only else batch.items
        collated = self.model.collate(items or batch.items[:1])
        return model(collated, self.loss_weights, ctc_only), int(collated.mask.sum())

    @torch.no_grad()
    def decode_metrics(self, batches: Iterable[DataBatch], per_task: int) -> dict[str, float | None]:
        """Each task's own metrics (``<task>/<metric>``; None where unavailable) on decodes of ``per_task``
        items drawn with the run's seed: text greedy; codec tokens sampled (seeded by item id) and voiced
        by ``valid_vocoder``, without which codec-output tasks are skipped.

        Beside them, on the same items, teacher-forced and free-running token accuracy of text outputs
        (``<task>/tf_acc``, ``<task>/fr_acc``: the share of target tokens and eos predicted in place, given
        the reference prefix or the model's own) and the share of distinct outputs (``<task>/distinct``).
        A model that has learnt the targets' prior but not to read its input shows a high tf_acc beside
        a low fr_acc, and few distinct outputs."""
        found: dict[str, list[tuple[str, Item, dict]]] = {}
        for batch in batches:
            for rid, item, ref in zip(batch.ids, batch.items, batch.references):
                if self.tasks[item.task].output is Modality.TEXT or self.vocoder is not None:
                    # The prompt an item was given is drawn (data.prompt), not the record's own: no
                    # similarity to the record's prompt.
                    ref = {k: v for k, v in ref.items() if k != self.tasks[item.task].prompt_field}
                    found.setdefault(item.task, []).append((rid, item, ref))
        # Drawn with the run's seed across the whole dev set (the first N may all be one class), in dev order.
        rng = random.Random(self.cfg.seed)
        chosen = {name: [items[i] for i in sorted(rng.sample(range(len(items)), min(per_task, len(items))))]
                  for name, items in sorted(found.items())}
        values: dict[str, float] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, picked in sorted(chosen.items()):
                task = self.tasks[name]
                items = [it for _, it, _ in picked]
                if task.output is Modality.TEXT:
                    outputs = self.model.generate([Item(it.task, it.source, audio_key=it.audio_key, prefix=it.prefix) for it in items])
                    known = self.tokenizer.vocab_size  # a pretrained backbone's table may be padded past it
                    hyps = [task.to_hypothesis(rid, self.tokenizer.decode([t for t in out if t < known]))
                            for (rid, _, _), out in zip(picked, outputs)]
                    teacher = self.model(self.model.collate(items)).stats[name]
                    values[f"{name}/tf_acc"] = teacher.correct / max(teacher.tokens, 1)
                    values[f"{name}/fr_acc"] = free_running_accuracy(outputs, [it.target.tolist() for it in items])
                    values[f"{name}/distinct"] = len({tuple(out) for out in outputs}) / len(outputs)
                else:
                    hyps = self._voiced(task, picked, Path(tmp) / name)
                pairs = [Pair(rid, ref, hyp) if hyp is not None else Pair(rid, ref, task.missing_hypothesis(ref), True)
                         for (rid, _, ref), hyp in zip(picked, hyps)]
                with torch.autocast(self.model.device.type, enabled=False):  # judges run in their own precision
                    score = task.score(pairs, task.Options(), self.registry)
                values.update({f"{name}/{k}": v for k, v in score.metrics.items()})  # None: unavailable, logged so
        return values

    def _voiced(self, task: Task, picked: list[tuple[str, Item, dict]], folder: Path) -> list[dict | None]:
        """Hypothesis records of codec-output items: sampled, voiced and written under ``folder``
        (None where the model said nothing)."""
        device, layout = self.model.device, self.model.layout
        # At most twice the longest reference: an early model may never emit eos.
        options = dataclasses.replace(default_decoding(Modality.CODEC),
                                      max_new_tokens=2 * max(len(it.target) for _, it, _ in picked))
        generators = [torch.Generator(device).manual_seed(zlib.crc32(rid.encode())) for rid, _, _ in picked]
        outputs = self.model.generate([Item(it.task, it.source, audio_key=it.audio_key, prefix=it.prefix)
                                       for _, it, _ in picked], codec=options, generator=generators)
        spoken = [i for i, out in enumerate(outputs) if out]
        hyps: list[dict | None] = [None] * len(picked)
        if not spoken:
            return hyps
        codes = [[layout.codec_code(t) for t in outputs[i]] for i in spoken]
        rate, codec_rate = self.cfg.data.sample_rate, self.codec.sample_rate
        text = [picked[i][1].source if task.input is Modality.TEXT else None for i in spoken]
        wav = [torchaudio.functional.resample(picked[i][1].source.float(), rate, codec_rate)
               if task.input is Modality.AUDIO else None for i in spoken]
        for i, samples in zip(spoken, synthesize(self.vocoder, self.codec, codes, text, wav)):
            hyps[i] = task.to_hypothesis(picked[i][0], str(write_wav(folder / f"{i}.wav", samples, codec_rate)))
        return hyps

    def describe(self, batch: DataBatch) -> str:
        return f"{len(batch.items)} items ({', '.join(batch.ids[:3])}{', ...' if len(batch.ids) > 3 else ''})"

    def save(self, directory: Path, state: dict[str, torch.Tensor]) -> None:
        """A model directory ``load_model`` reads, with weights ``state``, plus the tokenizer it was trained with."""
        save_model(self.model, self.cfg.model, directory, state)
        write_json(directory / TOKENIZER_FILE, {"identity": self.tokenizer.identity()})
        write_json(directory / CODEC_FILE, {"identity": self.codec_identity})

    def load(self, directory: Path) -> None:
        """Load saved weights, refusing a checkpoint made with another layout, tokenizer or codec."""
        from safetensors.torch import load_file

        # The tokenizer first: another tokenizer also changes the layout, and is the clearer reason.
        theirs = json.loads((directory / TOKENIZER_FILE).read_text())["identity"]
        if theirs != self.tokenizer.identity():
            raise ConfigError(f"tokenizer mismatch: the config's is {self.tokenizer.identity()}, "
                              f"{directory / TOKENIZER_FILE} has {theirs}")
        theirs = json.loads((directory / CODEC_FILE).read_text())["identity"]
        if theirs != self.codec_identity:
            raise ConfigError(f"codec mismatch: the config's codec is {self.codec_identity or 'none'}, "
                              f"{directory / CODEC_FILE} has {theirs or 'none'}")
        saved = VocabLayout.from_dict(json.loads((directory / LAYOUT_FILE).read_text()))
        self.model.layout.check_same(saved, str(directory / LAYOUT_FILE))
        self.model.load_state_dict(load_file(str(directory / MODEL_FILE)))


def free_running_accuracy(outputs: list[list[int]], targets: list[list[int]]) -> float:
    """The share of target positions (eos included) where the model's own decoded sequence holds the
    target's token: teacher-forced accuracy's counterpart when the model reads its own outputs."""
    eos = -1  # stands for eos on both sides
    hits = sum(a == b for out, tgt in zip(outputs, targets) for a, b in zip(out + [eos], tgt + [eos]))
    return hits / max(1, sum(len(tgt) + 1 for tgt in targets))


def load_part(part: nn.Module, name: str, path: str) -> None:
    """Initialise ``part`` from a safetensors file holding its state dict or a whole model's."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise ConfigError(f"init.{name}: file not found: {path}")
    verify_if_saved_by_laura(path)  # a file of a laura checkpoint is checked against its manifest
    state = load_file(path)
    prefix = f"{name}."
    if any(key.startswith(prefix) for key in state):
        state = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    try:
        missing, unexpected = part.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ConfigError(f"init.{name} {path}: {str(e).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ConfigError(f"init.{name} {path}: {len(missing)} missing keys (e.g. {missing[:2]}), "
                          f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})")

