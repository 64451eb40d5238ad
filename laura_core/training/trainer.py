"""``laura train``: the training loop, top to bottom.

    seed -> build the kind (tokenizer, model) -> optimizer -> resume? -> loop:
        accumulate accum_steps batches -> clip -> step (lr from the schedule)
        every log_every: per-task loss and token accuracy, lr, tokens/s
        every valid_every: per-task loss and accuracy on the valid set
        every save_every and at the end: a checkpoint (and at every validation when keep_best > 0:
        checkpoints/best.json ranks them by best_metric; pruning keeps the last keep_last and the best keep_best)

The data position is two numbers, the epoch and the batches consumed in it: the sampler's order is
a function of (data.seed, epoch), so a resumed run skips the consumed batches (no audio is read for
them) and continues with exactly the batches an uninterrupted run would have seen.

Several processes, one per device, train data-parallel (``laura_core.training.distributed``):

    torchrun --nproc_per_node 4 -m laura_core train CONFIG exp_dir=EXP [distributed.strategy=fsdp]

Every rank draws the same batches and keeps its share, so all take the same number of steps and the
data position is one for all; the logged stats are summed over ranks, and rank 0 alone writes the
log, TensorBoard and checkpoints (one model, whatever the strategy). A resumed run needs the world
size it was saved with.
"""
from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

import numpy as np
import torch
from torch import nn

from laura_core.training.checkpoint import (
    STATE, TRAIN_CONFIG, Score, check_best, latest_checkpoint, list_checkpoints, load_state, prune_checkpoints,
    record_best, remove_temporary, rng_state, save_checkpoint, save_state, set_rng_state,
)
from laura_core.config import save_config
from laura_core.data.batches import DataConfig
from laura_core.errors import ConfigError, DataError, LauraError
from laura_core.lock import output_lock
from laura_core.model.lauragpt import ModelOutput
from laura_core.runtime import prepare_torch
from laura_core.training.codec import CodecKind, VocoderKind
from laura_core.training.config import OptimConfig, TrainConfig
from laura_core.training.distributed import Distributed
from laura_core.training.lm import LanguageModelKind
from laura_core.training.log import Meter, TrainLog

if TYPE_CHECKING:
    from laura_core.registry import Registry


class TrainKind(Protocol):
    """What the loop needs of a trained model: ``lm`` (LauraGPT), ``codec`` (codec + discriminator),
    ``vocoder`` (a codec vocoder against a frozen codec)."""

    model: nn.Module

    def data(self, cfg: DataConfig, world_size: int = 1, rank: int = 0) -> tuple[Any, torch.utils.data.Dataset]: ...
    def param_groups(self) -> list[dict[str, Any]]:
        """Optimizer groups: ``{"name", "params"}`` plus optional ``lr_scale`` and ``betas`` (a GAN's
        generator and discriminator have their own); every group is clipped on its own."""
    def step(self, batch: Any, model: nn.Module, step: int) -> tuple[ModelOutput, int]: ...
    def describe(self, batch: Any) -> str: ...
    def save(self, directory: Path, state: dict[str, torch.Tensor]) -> None: ...
    def load(self, directory: Path) -> None: ...


KINDS: dict[str, type] = {"lm": LanguageModelKind, "codec": CodecKind, "vocoder": VocoderKind}


class Batches:
    """Endless batches, epoch after epoch, from a position ``(epoch, consumed)`` that is all the state it has."""

    def __init__(self, kind: TrainKind, cfg: DataConfig, num_workers: int, world_size: int = 1, rank: int = 0,
                 epoch: int = 0, consumed: int = 0):
        self.sampler, dataset = kind.data(cfg, world_size, rank)
        self.epoch, self.consumed = epoch, consumed
        # Its own generator: drawing worker seeds from the global one would shift dropout after a resume.
        self.loader = torch.utils.data.DataLoader(dataset, sampler=self, batch_size=None, num_workers=num_workers,
                                                  generator=torch.Generator())

    def __iter__(self) -> Iterator:  # the loader's sampler: batches of cuts from the current position
        self.sampler.set_epoch(self.epoch)
        return islice(iter(self.sampler), self.consumed, None)

    def batches(self) -> Iterator:
        while True:
            empty = True
            for batch in self.loader:
                empty = False
                self.consumed += 1
                yield batch
            if empty and self.consumed == 0:
                raise DataError("the training data yields no batches")
            self.epoch, self.consumed = self.epoch + 1, 0

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "consumed": self.consumed}


def learning_rate(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Linear warmup to ``lr``, then cosine or linear decay to ``min_lr`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, max_steps - cfg.warmup_steps))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if cfg.decay == "cosine" else 1 - progress
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * shape


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(cfg: TrainConfig, registry: "Registry | None" = None) -> Path:
    """Train as ``cfg`` says; returns the final checkpoint's directory. The experiment folder is locked
    for the run (one writer); SIGTERM or SIGUSR1 stop it after the current step with a checkpoint
    (``Stopped``)."""
    prepare_torch()
    job = Distributed(cfg.distributed)
    try:
        lock = output_lock(cfg.exp_dir, "laura train") if job.is_main else contextlib.nullcontext()
        with lock, _stop_signals() as stop:
            checkpoints = Path(cfg.exp_dir) / "checkpoints"
            if job.is_main:
                remove_temporary(checkpoints)  # left by a run killed while writing one
            found = list_checkpoints(checkpoints)
            if found and not cfg.resume:
                raise ConfigError(f"{checkpoints} already holds checkpoints: continue with resume=true or use "
                                  f"another exp_dir")
            last = latest_checkpoint(checkpoints) if cfg.resume else None
            if found and cfg.resume and last is None:
                raise DataError(f"{checkpoints}: none of its checkpoints verifies ({', '.join(d.name for d in found)}"
                                f"; the reasons are above): nothing to resume from. Move them aside to train "
                                f"from scratch, or restore a good copy")
            if cfg.keep_best > 0:
                check_best(checkpoints, cfg.best_metric, cfg.best_mode)
            return _train(cfg, registry, job, checkpoints, last, stop)
    finally:
        job.close()


class Stopped(LauraError):
    """Training stopped by a signal after writing a checkpoint; the message says how to resume."""

    exit_code = 143


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[str]]:
    """Catch SIGTERM and SIGUSR1 (cluster preemption, scancel, torchrun stopping a group) for the block:
    the yielded list receives the signal's name, and the loop stops at the end of its step."""
    caught: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {}

    def handler(signum, frame):
        caught.append(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGUSR1):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _train(cfg: TrainConfig, registry: "Registry | None", job: Distributed, checkpoints: Path,
           last: Path | None, stop: list[str]) -> Path:
    from laura_core.registry import get_registry

    exp_dir = Path(cfg.exp_dir)
    if job.is_main:
        save_config(cfg, exp_dir / "config.yaml")

    seed_everything(cfg.seed)
    kind: TrainKind = KINDS[cfg.kind](cfg, registry or get_registry())
    model = kind.model.to(job.device)
    if job.world_size > 1:
        seed_everything(cfg.seed + job.rank)  # same initial weights, different dropout
    for part in cfg.freeze:
        getattr(model, part).requires_grad_(False)

    step = 0
    state = None
    if last is not None:
        kind.load(last)  # before sharding: every rank reads the full weights
        state = load_state(last / STATE)
        if len(state["rng"]) != job.world_size:
            raise ConfigError(f"{last} was saved by {len(state['rng'])} processes; resume it with as many, "
                              f"not {job.world_size}")
    runner = job.wrap(model)
    # After building (resizing the vocabulary replaces parameters) and sharding (FSDP swaps in its own).
    optimizer = torch.optim.AdamW(optimizer_groups(kind.param_groups(), cfg.optim), lr=cfg.optim.lr)
    clipped = {}  # the kind's groups, each clipped on its own
    for group in optimizer.param_groups:
        clipped.setdefault(group["name"], []).extend(group["params"])
    data = Batches(kind, cfg.data, cfg.num_workers, job.world_size, job.rank)
    valid = (Batches(kind, cfg.valid, cfg.num_workers, job.world_size, job.rank)
             if cfg.valid is not None and cfg.valid_every else None)
    if state is not None:
        try:
            job.load_optimizer_state(model, optimizer, state["optimizer"])
        except (ValueError, KeyError) as e:
            raise ConfigError(f"{last}: its optimizer state does not fit this run's parameter groups ({e}); it "
                              f"was written with other frozen parts or by an older laura: start a new exp_dir "
                              f"from its weights (init.backbone / init.encoder)") from None
        data.epoch, data.consumed = state["data"]["epoch"], state["data"]["consumed"]
        set_rng_state(state["rng"][job.rank])
        step = state["step"]
        if job.is_main:
            print(f"resumed from {last} at step {step}", flush=True)

    def write_checkpoint(score: Score | None = None) -> Path | None:
        # Gathering is collective: every rank takes part, rank 0 writes.
        weights = job.model_state(model)
        optimizer_state = job.optimizer_state(model, optimizer)
        rng = job.gather_states(rng_state())
        written = None
        if job.is_main:
            def write(directory: Path) -> None:
                kind.save(directory, weights)
                save_config(cfg, directory / TRAIN_CONFIG)
                save_state(directory / STATE, {"step": step, "optimizer": optimizer_state, "data": data.state(),
                                               "rng": rng, "scaler": scaler.state_dict()})

            written = save_checkpoint(checkpoints, step, write, cfg.keep_last, cfg.keep_best, score)
        return job.gather_objects(written)[0]

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
    autocast = torch.autocast(job.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
    scaler = torch.amp.GradScaler(job.device.type, enabled=cfg.precision == "fp16")
    if state is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    final = last  # a run resumed at max_steps has nothing left to do
    log = TrainLog(exp_dir, cfg.max_steps, step) if job.is_main else None
    batches = data.batches()
    meter = Meter()
    runner.train()
    try:
        while step < cfg.max_steps:
            if step < cfg.ctc_steps:  # kind lm's CTC-only start: warmup, then the peak rate
                lr = cfg.optim.lr * min(1.0, (step + 1) / max(1, cfg.optim.warmup_steps))
            else:
                lr = learning_rate(step - cfg.ctc_steps, cfg.optim, cfg.max_steps - cfg.ctc_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            for micro in range(cfg.optim.accum_steps):
                batch = next(batches)
                # DDP averages gradients once, on the last micro-batch.
                sync = job.no_sync(runner) if micro < cfg.optim.accum_steps - 1 else contextlib.nullcontext()
                try:
                    with sync:
                        with autocast:
                            out, positions = kind.step(batch, runner, step)
                        scaler.scale(job.scaled_loss(out.loss, out.denominator()) / cfg.optim.accum_steps).backward()
                except torch.OutOfMemoryError:
                    raise LauraError(f"out of memory at step {step + 1} on a batch of {kind.describe(batch)} "
                                     f"(data.max_duration={cfg.data.max_duration}); lower data.max_duration") from None
                meter.add(out.stats, positions, out.values)
            scaler.unscale_(optimizer)
            if cfg.optim.grad_clip > 0:
                for params in clipped.values():
                    nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            scaler.step(optimizer)  # skipped when fp16 gradients overflowed
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if log is not None:
                log.advance()

            if step % cfg.log_every == 0:
                values = job.reduce(meter).values()
                if log is not None:
                    log.write(step, "train", {**values, "lr": lr})
                meter = Meter()
            stopping = job.global_sum(float(bool(stop))) > 0  # every rank stops at the same step
            # The checkpoint before validation: whatever validation does, the steps are kept.
            saved = step % cfg.save_every == 0 or step == cfg.max_steps or stopping
            if saved:
                final = write_checkpoint()
            if valid is not None and step % cfg.valid_every == 0 and step > cfg.ctc_steps:  # the GPT has started
                values = evaluate(kind, valid, autocast, job, cfg.valid_decode)
                if log is not None:
                    log.write(step, "valid", values)
                if cfg.keep_best > 0:
                    score = Score(cfg.best_metric, cfg.best_mode, _metric(values, cfg.best_metric))
                    if not saved:
                        final = write_checkpoint(score)
                    elif job.is_main:  # rank this step's checkpoint, then prune by the ranking
                        record_best(checkpoints, step, score)
                        prune_checkpoints(checkpoints, cfg.keep_last, cfg.keep_best)
            if stopping and step < cfg.max_steps:
                raise Stopped(f"stopped by {stop[0] if stop else 'a signal on another rank'} after step {step}: "
                              f"wrote {final}; continue with the same command and resume=true")
    finally:
        if log is not None:
            log.close()
    return final


def optimizer_groups(groups: list[dict[str, Any]], optim: OptimConfig) -> list[dict[str, Any]]:
    """AdamW groups from a kind's groups: each split into its matrices, decayed by ``optim.weight_decay``,
    and its vectors (biases, norm scales), which are not decayed, as usual for transformers. Frozen
    parameters are left out; ``name`` stays the kind's group, which gradient clipping goes by."""
    out = []
    for group in groups:
        base = {"lr_scale": 1.0, "betas": tuple(optim.betas), **group}
        trained = [p for p in group["params"] if p.requires_grad]
        for decay, params in ((optim.weight_decay, [p for p in trained if p.ndim >= 2]),
                              (0.0, [p for p in trained if p.ndim < 2])):
            if params:
                out.append({**base, "params": params, "weight_decay": decay})
    return out


def _metric(values: dict[str, float], name: str) -> float:
    key = name.removeprefix("valid/")
    if key not in values:
        raise ConfigError(f"best_metric {name!r} is not among the validation values: "
                          f"{', '.join('valid/' + k for k in values)}")
    return values[key]


@torch.no_grad()
def evaluate(kind: TrainKind, data: Batches, autocast, job: Distributed, decode: int = 0) -> dict[str, float]:
    """Per-task loss and token accuracy over one pass of the valid set (every rank's share); with
    ``decode``, each task's own metrics on that many decoded items (rank 0's share)."""
    kind.model.eval()
    meter = Meter()
    data.epoch = data.consumed = 0
    batches = []
    for batch in data.loader:
        with autocast:
            out, _ = kind.step(batch, kind.model, -1)  # not the DDP wrapper: nothing to synchronise
        meter.add(out.stats, values=out.values)
        if decode:
            batches.append(batch)
    values = job.reduce(meter).values()
    if decode and job.is_main and not job.sharded:
        with autocast:
            values.update(kind.decode_metrics(batches, decode))
    kind.model.train()
    return values
