"""``laura infer``: a trained LauraGPT on task manifests -> the hypotheses ``laura score`` reads.

    OUT/<task>/<split>/ref.jsonl    references, in manifest order (split: the manifest's name, e.g. test),
                                    unless no record holds one (inference on new inputs)
    OUT/<task>/<split>/hyp.jsonl    the model's outputs: text, or audio paths relative to this folder and codes
    OUT/<task>/<split>/wav/<id>.wav audio outputs: codec tokens voiced by the vocoder and the codec decoder
    OUT/<task>/<split>/infer.json   what made them: model weights, manifest, decode options

A model directory is a ``laura train`` checkpoint or a ``laura average`` output: its ``train.yaml``
names the tokenizer and codec, whose identities must equal the ones the model was trained with.
Items are batched by duration and decoded with the KV cache. Each finished batch is appended to
``hyp.partial.jsonl``, so an interrupted run resumes where it stopped (and refuses to resume with
another model or other options); the final files are written atomically.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import torch

from laura_core.audio import read_audio, write_wav
from laura_core.config import load_config, to_dict
from laura_core.data.batches import item_source, load_waveform, prompted, text_ids
from laura_core.data.codes import encode_waves
from laura_core.data.prompts import VoicePrompt, crop
from laura_core.data.validate import OnError, ValidationOptions, check_cuts
from laura_core.errors import ConfigError, DataError
from laura_core.io import read_partial_jsonl, sha256_file, write_json, write_jsonl
from laura_core.lock import output_lock
from laura_core.manifest import cut_to_record, read_cuts
from laura_core.model.codec import load_codec, weights_hash
from laura_core.model.generation import DecodeOptions
from laura_core.model.lauragpt import Item, LauraGPT, default_decoding, load_model
from laura_core.model.synthesis import synthesize
from laura_core.names import output_path
from laura_core.runtime import prepare_torch
from laura_core.task import FieldType, Modality, Task

if TYPE_CHECKING:
    from laura_core.interfaces import Codec, Tokenizer, Vocoder
    from laura_core.registry import Registry

INFO_FILE, PARTIAL_FILE, WAV_DIR = "infer.json", "hyp.partial.jsonl", "wav"
SHARD_FILE = "hyp.shard.jsonl"  # a finished shard's outputs (shard=K/N), merged when every shard has one


@dataclass
class InferConfig:
    text: DecodeOptions = field(default_factory=lambda: default_decoding(Modality.TEXT))  # greedy
    codec: DecodeOptions = field(default_factory=lambda: default_decoding(Modality.CODEC))  # top-k 25, 750 frames
    # One task's decode options over those of its output modality: tasks.mt.no_repeat_ngram_size=3
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_duration: float = 60.0  # padded seconds of input per batch (text inputs count their reading time)
    seed: int = 0  # sampling: each item draws from a generator seeded by this and its id
    device: str = "cpu"
    precision: str = "fp32"  # or bf16: the model runs under bf16 autocast (about 2x faster on CPUs with AMX)
    # What cached decode steps of a few rows read (backbones that can, e.g. qwen2's fused CPU step): the
    # fp32 matrices, or bf16 or int8 copies (weight-only; activations stay fp32): 2x or 4x fewer bytes.
    decode_weights: str = "fp32"
    validation: ValidationOptions = field(default_factory=ValidationOptions)  # e.g. validation.max_duration=60
    # Voice prompts of promptable tasks (zero-shot tts): each record's own (its prompt field), or one
    # recording and transcript for every record (--prompt, --prompt-text); prompts=false speaks without.
    prompts: bool = True
    prompt: str = ""
    prompt_text: str = ""
    prompt_seconds: float = 3.0
    # "K/N": decode every N-th record from the K-th (0-based), so N processes (a SLURM array, several
    # machines on a shared disk) split a manifest; the last shard to finish merges them in manifest order.
    shard: str = ""

    def options_for(self, task: Task) -> DecodeOptions:
        """How ``task`` decodes: its modality's options (``text``, ``codec``), then its own (``tasks.NAME``)."""
        base = self.text if task.output is Modality.TEXT else self.codec
        return merged_options(base, self.tasks.get(task.name, {}), f"tasks.{task.name}")

    def check_tasks(self, known: Mapping[str, Task]) -> None:
        """Refuse decode options for a task the model does not have (a typo would be ignored)."""
        for name in self.tasks:
            if name not in known:
                raise ConfigError(f"tasks.{name}: decode options for a task the model was not trained for "
                                  f"(it has {', '.join(known)})")
            self.options_for(known[name])


def merged_options(base: DecodeOptions, overrides: Mapping[str, Any], where: str) -> DecodeOptions:
    """``base`` with ``overrides`` (DecodeOptions fields); a bad name or value is a ConfigError naming ``where``."""
    if not overrides:
        return base
    try:
        return load_config(DecodeOptions, values={**to_dict(base), **overrides})
    except (ConfigError, ValueError) as e:  # unknown field, or DecodeOptions' own checks
        raise ConfigError(f"{where}: {e}") from None


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def autocast(device: torch.device | str, precision: str):
    """The autocast context of ``precision`` on ``device`` (none for fp32)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()


def set_decode_weights(model: LauraGPT, kind: str) -> None:
    """Have ``model``'s backbone read its matrices as ``kind`` in decode steps (fp32, bf16, int8)."""
    if kind == "fp32" and not hasattr(model.backbone, "set_decode_weights"):
        return
    if not hasattr(model.backbone, "set_decode_weights"):
        raise ConfigError(f"decode_weights={kind}: the {type(model.backbone).__name__} backbone decodes with fp32 "
                          f"weights only")
    try:
        model.backbone.set_decode_weights(kind)
    except ValueError as e:
        raise ConfigError(f"decode_weights: {e}") from None


def parse_shard(shard: str) -> tuple[int, int] | None:
    if not shard:
        return None
    k, sep, n = shard.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise ConfigError(f"shard={shard!r}: expected K/N with 0 <= K < N, e.g. shard=0/4")
    return int(k), int(n)


@dataclass
class InferenceModel:
    """A trained LauraGPT with what it was trained with, and the vocoder that voices its codec tokens."""

    model: LauraGPT
    tasks: dict[str, Task]  # the tasks the model was trained for
    tokenizer: "Tokenizer"
    codec: "Codec | None"
    vocoder: "Vocoder | None"
    weights: str  # sha256 of the model's weights file: outputs name the exact model that made them
    directory: Path

    def prepare(self, cfg: InferConfig) -> None:
        """Place every part on ``cfg.device`` and set how decode steps read the weights; a precision
        that does not exist, or decode options of a task the model lacks, fail here, before any work."""
        cfg.check_tasks(self.tasks)
        device = torch.device(cfg.device)
        for part in (self.model, self.vocoder, self.codec):
            if part is not None:
                part.to(device)
        autocast(device, cfg.precision)
        set_decode_weights(self.model, cfg.decode_weights)


def checkpoint_of(path: str | Path) -> Path:
    """The checkpoint a path names: itself, or an experiment folder's newest checkpoint that verifies."""
    from laura_core.training.checkpoint import TRAIN_CONFIG, latest_checkpoint

    directory = Path(path)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such model folder (give a checkpoint or an experiment folder)")
    if (directory / TRAIN_CONFIG).is_file() or not (directory / "checkpoints").is_dir():
        return directory
    found = latest_checkpoint(directory / "checkpoints")
    if found is None:
        raise ConfigError(f"{directory}: an experiment folder without a checkpoint that verifies "
                          f"(in {directory / 'checkpoints'})")
    return found


def load_inference_model(model_dir: str | Path, registry: "Registry", vocoder_dir: str | Path = "") -> InferenceModel:
    """The model of a checkpoint (or averaged) directory, or of an experiment folder's newest checkpoint,
    its tokenizer and codec checked against the identities it recorded, and the vocoder of
    ``vocoder_dir`` (trained against the same codec)."""
    from laura_core.training.checkpoint import TRAIN_CONFIG
    from laura_core.training.codec import load_vocoder
    from laura_core.training.config import TrainConfig
    from laura_core.training.lm import CODEC_FILE, TOKENIZER_FILE

    directory = checkpoint_of(model_dir)
    for name in (TRAIN_CONFIG, TOKENIZER_FILE):
        if not (directory / name).is_file():
            raise ConfigError(f"{directory}: not a LauraGPT checkpoint ({name} is missing): give a checkpoint "
                              f"directory (EXP/checkpoints/step_N), one written by `laura average`, or an "
                              f"experiment folder")
    cfg = load_config(TrainConfig, directory / TRAIN_CONFIG)
    if cfg.kind != "lm":
        raise ConfigError(f"{directory}: a {cfg.kind} checkpoint; `laura infer` runs LauraGPT (kind lm) checkpoints")
    tokenizer = registry.create("tokenizer", cfg.tokenizer.name, **cfg.tokenizer.options)
    trained_with = json.loads((directory / TOKENIZER_FILE).read_text())["identity"]
    if tokenizer.identity() != trained_with:
        raise ConfigError(f"{directory}: trained with tokenizer {trained_with}, but the one train.yaml names "
                          f"({cfg.tokenizer.options}) is {tokenizer.identity()}")
    codec_file = directory / CODEC_FILE
    codec_identity = json.loads(codec_file.read_text())["identity"] if codec_file.is_file() else ""
    codec = None
    if codec_identity:
        codec, found = load_codec(cfg.codec.path, registry)
        if found != codec_identity:
            raise ConfigError(f"{directory}: trained with codec {codec_identity}, but {cfg.codec.path} is {found}")
    model, _ = load_model(directory, registry)
    model.never_emit(tokenizer.never_emitted())
    vocoder = None
    if vocoder_dir:
        if codec is None:
            raise ConfigError(f"{directory}: the model speaks no codec, so a vocoder has nothing to voice")
        vocoder = load_vocoder(vocoder_dir, registry, codec_identity, tokenizer.identity())
    weights = sha256_file(directory / "model.safetensors")[:16]
    tasks = {name: registry.task(name) for name in model.layout.tasks}
    return InferenceModel(model.eval(), tasks, tokenizer, codec, vocoder, weights, directory)


def split_name(manifest: str | Path) -> str:
    """``data/asr/test.jsonl.gz`` -> ``test``."""
    name = Path(manifest).name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name


def infer(bundle: InferenceModel, jobs: Sequence[tuple[str, str]], out_dir: str | Path, cfg: InferConfig,
          progress: Callable[[str, int, int], None] | None = None) -> list[Path]:
    """Decode every ``(task, manifest)`` job into ``out_dir/<task>/<split>/``; returns those folders.
    ``progress(folder, done, total)`` is called after each batch."""
    prepare_torch()
    model = bundle.model
    for name, manifest in jobs:
        if not Path(manifest).is_file():
            raise DataError(f"{manifest}: file not found (--data {name}=MANIFEST)")
        if name not in bundle.tasks:
            raise ConfigError(f"task {name!r}: the model was trained for {', '.join(bundle.tasks)}")
        if bundle.tasks[name].output is Modality.CODEC and bundle.vocoder is None:
            raise ConfigError(f"task {name} outputs audio: give the vocoder that voices the model's codec "
                              f"tokens (--vocoder DIR, a `laura train` kind vocoder checkpoint)")
    folders = []
    bundle.prepare(cfg)
    shard = parse_shard(cfg.shard)
    # One run writes a folder; the shards of a split run side by side, each holding its own lock.
    lock = Path(out_dir) / ".shards" / f"{shard[0]}-of-{shard[1]}" if shard else out_dir
    with output_lock(lock, "laura infer"):
        for name, manifest in jobs:
            folder = Path(out_dir) / name / split_name(manifest)
            _run(bundle, bundle.tasks[name], manifest, folder, cfg, progress)
            folders.append(folder)
    return folders


def duration_batches(cuts: Sequence, max_duration: float) -> list[list]:
    """Cuts sorted longest first and cut into batches whose padded size (count x longest) stays within
    ``max_duration``: little padding, and a batch too large for memory shows up first."""
    batches: list[list] = []
    for cut in sorted(cuts, key=lambda c: (-c.duration, c.id)):
        if batches and (len(batches[-1]) + 1) * batches[-1][0].duration <= max_duration:
            batches[-1].append(cut)
        else:
            batches.append([cut])
    return batches


def _run(bundle: InferenceModel, task: Task, manifest: str, folder: Path, cfg: InferConfig,
         progress: Callable[[str, int, int], None] | None) -> None:
    options = cfg.options_for(task)
    info = {"model": str(bundle.directory.resolve()), "weights": bundle.weights,
            "manifest": str(Path(manifest).resolve()), "manifest_sha256": sha256_file(manifest)[:16],
            "task": task.name, "decode": to_dict(options), "seed": cfg.seed, "precision": cfg.precision,
            "decode_weights": cfg.decode_weights}
    if task.prompt_field:
        info["prompts"] = ({"prompt": str(Path(cfg.prompt).resolve()), "sha256": sha256_file(cfg.prompt)[:16],
                            "text": cfg.prompt_text} if cfg.prompt else "records") if cfg.prompts else "none"
        info["prompt_seconds"] = cfg.prompt_seconds
    if task.output is Modality.CODEC:
        info["vocoder"] = f"{type(bundle.vocoder).__name__}-{weights_hash(bundle.vocoder.state_dict())}"
    _claim(folder, info)
    if (folder / "hyp.jsonl").is_file():  # finished by an earlier run with the same model and options
        return
    cuts, labelled = _valid_cuts(manifest, task, cfg.validation)
    shard = parse_shard(cfg.shard)
    work, mine = folder, cuts
    if shard:
        work, mine = folder / "shards" / f"{shard[0]}-of-{shard[1]}", cuts[shard[0]::shard[1]]
        work.mkdir(parents=True, exist_ok=True)
    done = read_partial_jsonl(work / (SHARD_FILE if (work / SHARD_FILE).is_file() else PARTIAL_FILE))
    todo = [cut for cut in mine if cut.id not in done]
    if todo:
        with open(work / PARTIAL_FILE, "a", encoding="utf-8") as partial:
            for batch in duration_batches(todo, cfg.max_duration):
                with autocast(cfg.device, cfg.precision):
                    records = _decode_batch(bundle, task, batch, folder, options, cfg.seed, _prompts(bundle, task, batch, cfg))
                for record in records:
                    partial.write(json.dumps(record, ensure_ascii=False) + "\n")
                    done[record["id"]] = record
                partial.flush()
                os.fsync(partial.fileno())
                if progress:
                    progress(str(folder), len(done), len(mine))
    if shard:
        if (work / PARTIAL_FILE).is_file():
            (work / PARTIAL_FILE).replace(work / SHARD_FILE)  # this shard is whole
        elif not (work / SHARD_FILE).is_file():
            (work / SHARD_FILE).touch()  # more shards than records: nothing was this one's
        parts = [folder / "shards" / f"{i}-of-{shard[1]}" / SHARD_FILE for i in range(shard[1])]
        if not all(part.is_file() for part in parts):
            return  # another shard merges
        done = {rid: record for part in parts for rid, record in read_partial_jsonl(part).items()}
    if labelled:
        refs = []
        for cut in cuts:
            record = cut_to_record(cut)
            ref = _absolute_audio(task.to_reference(record), task)
            if task.prompt_field and cfg.prompt and cfg.prompts:  # the voice every output was asked for
                ref[task.prompt_field] = str(Path(cfg.prompt).resolve())
            refs.append(ref)
        write_jsonl(folder / "ref.jsonl", refs)
    # An output with nothing in it (eos at once) is left out: `laura score` counts it as missing.
    hyps = [done[cut.id] for cut in cuts if all(done[cut.id].get(f.name) is not None for f in task.hyp_fields)]
    write_jsonl(folder / "hyp.jsonl", hyps)
    (folder / PARTIAL_FILE).unlink(missing_ok=True)
    if shard:
        shutil.rmtree(folder / "shards", ignore_errors=True)


def _valid_cuts(manifest: str, task: Task, options: ValidationOptions) -> tuple[list, bool]:
    """The manifest's cuts, and whether they hold references: every record whole (references are
    written), or none with a target (inputs alone, e.g. new audio to transcribe). Bad inputs, or
    references only some records have or that are broken, stop the run, naming record and field."""
    if options.on_error is not OnError.stop:
        raise ConfigError("laura infer decodes every record or none: validation.on_error must stay stop "
                          "(`laura validate` lists the bad records to fix or remove)")
    cuts = list(read_cuts(manifest))
    whole = check_cuts(cuts, task, options, manifest)
    if whole.ok:
        return cuts, True
    inputs = check_cuts(cuts, task, dataclasses.replace(options, inputs_only=True), manifest)
    if not inputs.ok:
        raise DataError(f"{inputs.summary()} (`laura validate` lists all)")
    # Inputs alone: every record lacks its target, and nothing else is wrong than missing references
    # (slu's target is its intent; its slots are missing too).
    lacking_target = {p.id for p in whole.problems if p.field == task.target_field and p.reason.startswith("missing")}
    unlabelled = (whole.bad == whole.checked and len(lacking_target) == whole.checked
                  and all(p.reason.startswith("missing") and p.field != task.source_field for p in whole.problems))
    if not unlabelled:
        raise DataError(f"{whole.summary()} (records need all their references, or none for inference alone)")
    return cuts, False


def _prompts(bundle: InferenceModel, task: Task, cuts: list, cfg: InferConfig) -> list[VoicePrompt | None]:
    """Each cut's voice prompt: the configured one, its record's, or None (no prompt, or prompts off)."""
    if not task.prompt_field or not cfg.prompts:
        return [None] * len(cuts)
    records = [cut_to_record(cut) for cut in cuts]
    wanted = [(cfg.prompt, cfg.prompt_text) if cfg.prompt else
              (r.get(task.prompt_field) or "", r.get(f"{task.prompt_field}_text")) for r in records]
    out, coded = [], {}
    for (path, text), record in zip(wanted, records):
        if not path:
            out.append(None)
            continue
        if path not in coded:  # one prompt for every record is coded once
            try:
                wave = read_audio(path, bundle.codec.sample_rate)[0]
            except DataError as e:
                raise DataError(f"record {record['id']!r}, field {task.prompt_field!r}: {e}") from None
            coded[path] = wave
        out.append(voice_prompt(bundle, coded[path], text or None, cfg.prompt_seconds))
    return out


@torch.inference_mode()
def voice_prompt(bundle: InferenceModel, wave: np.ndarray, text: str | None, seconds: float) -> VoicePrompt:
    """A voice prompt from a recording at the codec's rate and its transcript: its codes and samples,
    cropped to ``seconds`` (a cropped prompt loses its transcript, which no longer matches)."""
    codec = bundle.codec
    codes = encode_waves(codec, [wave], str(bundle.model.device))[0][0].tolist()
    return crop(codes, text, len(wave) / codec.sample_rate, seconds, wave[: len(codes) * codec.hop_length])


@dataclass(frozen=True)
class Voiced:
    """An audio output: the codec tokens the model said, and the waveform the vocoder made of them."""

    codes: list[int]
    samples: np.ndarray  # mono float32 at the codec's rate


@torch.inference_mode()
def decode(bundle: InferenceModel, task: Task, cuts: Sequence, options: DecodeOptions, seed: int,
           prompts: Sequence[VoicePrompt | None] = ()) -> list[str | Voiced | None]:
    """The model's output for each cut of a batch: its text, or its voiced codec tokens; None where
    it said nothing (eos at once). What ``laura infer`` writes and the Python API returns."""
    model, tokenizer = bundle.model, bundle.tokenizer
    sample_rate = model.encoder.sample_rate if task.input is Modality.AUDIO else 0
    items = []
    for cut, prompt in itertools.zip_longest(cuts, prompts[: len(cuts)]):
        source, prefix = item_source(cut, task, tokenizer, sample_rate), None
        if prompt is not None:
            source, prefix = prompted(source, prompt, tokenizer, model.layout)
        items.append(Item(task.name, source, prefix=prefix))
    device = model.device
    items = [Item(it.task, it.source.to(device), prefix=None if it.prefix is None else it.prefix.to(device))
             for it in items]
    # Each item samples from its own generator, seeded by its id: its output does not depend on the
    # batch it lands in, so batch sizes and resumed runs change nothing.
    generators = [torch.Generator(device).manual_seed(seed * 1_000_003 + zlib.crc32(cut.id.encode())) for cut in cuts]
    kwargs = {"text": options} if task.output is Modality.TEXT else {"codec": options}
    outputs = model.generate(items, generator=generators, **kwargs)
    if task.output is Modality.TEXT:
        known = tokenizer.vocab_size  # a pretrained backbone's table may be padded past it
        texts = [tokenizer.decode([t for t in out if t < known]) for out in outputs]
        return [text if text.strip() else None for text in texts]
    return _voice(bundle, task, cuts, outputs, prompts[: len(cuts)])


def _voice(bundle: InferenceModel, task: Task, cuts: Sequence, outputs: list[list[int]],
           prompts: Sequence[VoicePrompt | None] = ()) -> list[Voiced | None]:
    """Codec token ids -> waveforms, through the vocoder and the codec decoder (None: no tokens); a
    vocoder that takes a prompt hears each item's voice prompt."""
    codec, layout = bundle.codec, bundle.model.layout
    voiced: list[Voiced | None] = [None] * len(cuts)
    spoken = [i for i, out in enumerate(outputs) if out]
    if not spoken:
        return voiced
    codes = [[layout.codec_code(t) for t in outputs[i]] for i in spoken]
    # The vocoder's condition, as in its training (VocoderData): the source text's ids or the input audio.
    text = [text_ids(bundle.tokenizer, task.to_source(cut_to_record(cuts[i])))
            if task.input is Modality.TEXT else None for i in spoken]
    wav = [load_waveform(cuts[i], codec.sample_rate) if task.input is Modality.AUDIO else None for i in spoken]
    prompts = list(prompts) + [None] * (len(cuts) - len(prompts))
    heard = [None if prompts[i] is None else prompts[i].samples for i in spoken]
    for i, item_codes, samples in zip(spoken, codes, synthesize(bundle.vocoder, codec, codes, text, wav, heard)):
        voiced[i] = Voiced(item_codes, samples)
    return voiced


def _decode_batch(bundle: InferenceModel, task: Task, cuts: list, folder: Path, options: DecodeOptions,
                  seed: int, prompts: Sequence[VoicePrompt | None] = ()) -> list[dict]:
    """Hypothesis records of a batch, audio outputs written to ``wav/<id>.wav``. An empty output is
    recorded as None: left out of hyp.jsonl, so ``laura score`` counts it as missing."""
    records = []
    for cut, output in zip(cuts, decode(bundle, task, cuts, options, seed, prompts)):
        if output is None:
            records.append({"id": cut.id, task.hyp_fields[0].name: None})
        elif isinstance(output, str):
            records.append(task.to_hypothesis(cut.id, output))
        else:
            path = output_path(folder / WAV_DIR, cut.id, ".wav")  # an id never writes outside the folder
            write_wav(path, output.samples, bundle.codec.sample_rate)
            # The codes too: what the model said, exactly, to voice again with another vocoder.
            records.append({**task.to_hypothesis(cut.id, f"{WAV_DIR}/{path.name}"), "codes": output.codes})
    return records


def _claim(folder: Path, info: dict) -> None:
    """Mark ``folder`` as this run's, or refuse it when another model or other options made it (the
    same weights from a moved checkpoint directory are the same model)."""
    path = folder / INFO_FILE
    if path.is_file():
        theirs = json.loads(path.read_text())
        differ = sorted(k for k in info.keys() | theirs.keys() if k != "model" and info.get(k) != theirs.get(k))
        if differ:
            raise ConfigError(f"{folder} holds outputs of another run (differing in {', '.join(differ)}): "
                              f"remove it, or write to another output directory")
        return
    write_json(path, info)


def _absolute_audio(record: dict, task: Task) -> dict:
    """Reference audio paths made absolute: ref.jsonl lives elsewhere than the manifest."""
    for spec in task.ref_fields:
        if spec.type is FieldType.AUDIO and isinstance(record.get(spec.name), str):
            record[spec.name] = str(Path(record[spec.name]).resolve())
    return record
