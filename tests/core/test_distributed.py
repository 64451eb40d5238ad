"""Data-parallel training on CPU with gloo: two processes against one."""
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from laura_core.data.batches import DataBatch, shard_batches
from laura_core.model.lauragpt import MODEL_FILE
from laura_core.registry import get_registry
from laura_core.training.config import TrainConfig
from laura_core.training.distributed import Distributed, DistributedConfig
from laura_core.training.lm import LanguageModelKind
from tests.core.test_train import config, log_records

REPO = Path(__file__).resolve().parents[2]
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batches_of(kind: LanguageModelKind, cfg: TrainConfig, n: int) -> list[DataBatch]:
    sampler, dataset = kind.data(cfg.data)
    sampler.set_epoch(0)
    return [dataset[cuts] for cuts, _ in zip(sampler, range(n))]


def train_steps(cfg: TrainConfig, step_batches: list[DataBatch], job: Distributed) -> dict[str, torch.Tensor]:
    """The trainer's step (scaled loss, clipping, AdamW) on the given batches, one per step."""
    torch.manual_seed(cfg.seed)
    kind = LanguageModelKind(cfg, get_registry())
    runner = job.wrap(kind.model)
    optimizer = torch.optim.AdamW(kind.model.parameters(), lr=cfg.optim.lr)
    for batch in step_batches:
        out, _ = kind.step(batch, runner)
        job.scaled_loss(out.loss, sum(s.tokens for s in out.stats.values())).backward()
        torch.nn.utils.clip_grad_norm_(kind.model.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad()
    return {k: v.detach().clone() for k, v in kind.model.state_dict().items()}


def ddp_worker(rank: int, cfg: TrainConfig, batches: list[DataBatch], port: int, out: str) -> None:
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    job = Distributed(DistributedConfig(strategy="ddp"))
    try:
        weights = train_steps(cfg, batches[rank::2], job)
        if rank == 0:
            torch.save(weights, out)
    finally:
        job.close()


def test_ddp_on_two_processes_steps_like_one_process_on_both_batches(setup, tmp_path):
    cfg = config(setup, tmp_path, "optim.lr=1e-3")
    kind = LanguageModelKind(cfg, get_registry())
    batches = batches_of(kind, cfg, 2 * STEPS)
    combined = [DataBatch(a.ids + b.ids, a.items + b.items) for a, b in zip(batches[::2], batches[1::2])]
    # Ranks get unequal token counts: a mean of rank means would differ from the mean over all tokens.
    single = train_steps(cfg, combined, Distributed(DistributedConfig()))
    mp.spawn(ddp_worker, args=(cfg, batches, free_port(), str(tmp_path / "ddp.pt")), nprocs=2)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    torch.manual_seed(cfg.seed)
    initial = LanguageModelKind(cfg, get_registry()).model.state_dict()
    assert single.keys() == ddp.keys()
    assert any(not torch.equal(single[k], initial[k]) for k in single)
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], rtol=0, atol=1e-5, msg=key)


# -- data sharding ------------------------------------------------------------------------------


def test_ranks_share_every_epoch_exactly_once_in_equal_steps(setup, tmp_path):
    cfg = config(setup, tmp_path, "data.max_duration=2.0")
    kind = LanguageModelKind(cfg, get_registry())
    everything, _ = kind.data(cfg.data)
    for epoch in (0, 1):
        everything.set_epoch(epoch)
        ids = [cut.id for batch in everything for cut in batch]
        shares = []
        for rank in range(2):
            sampler, _ = kind.data(cfg.data, world_size=2, rank=rank)
            sampler.set_epoch(epoch)
            shares.append([[cut.id for cut in batch] for batch in sampler])
        assert len(shares[0]) == len(shares[1]) > 0
        seen = Counter(i for share in shares for batch in share for i in batch)
        assert seen == Counter(ids) and set(seen.values()) == {1} and len(ids) == 18


class Cut:
    def __init__(self, i: int):
        self.id, self.duration = i, float(i % 5)


@pytest.mark.parametrize("sizes, world_size", [
    ([3, 2, 4, 1, 2], 2), ([3, 2, 4, 1, 2], 3), ([2, 2, 2, 3], 4), ([2, 2, 1], 2), ([2, 3, 2, 1, 1], 4), ([5], 3),
])
def test_a_last_incomplete_round_is_dealt_so_ranks_stay_in_step(sizes, world_size):
    start = [sum(sizes[:i]) for i in range(len(sizes))]
    batches = [[Cut(i) for i in range(s, s + n)] for s, n in zip(start, sizes)]
    shares = [list(shard_batches(batches, world_size, rank)) for rank in range(world_size)]
    assert len({len(share) for share in shares}) == 1
    seen = sorted(cut.id for share in shares for batch in share for cut in batch)
    assert seen == list(range(sum(sizes)))


# -- end to end under torchrun ------------------------------------------------------------------


def torchrun(setup: Path, exp_dir: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), "-m", "laura_core", "train", str(setup), f"exp_dir={exp_dir}",
               "log_every=1", "valid_every=2", *options]
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    return run


# Mixed tasks: some steps give one rank audio input and the other none (FSDP2 then relies on
# LauraGPT.always_run_encoder).
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_torchrun_trains_saves_once_and_resumes(setup, tmp_path, strategy):
    exp_dir = tmp_path / "exp"
    options = [f"distributed.strategy={strategy}"]
    first = torchrun(setup, exp_dir, *options, "max_steps=2", "save_every=2")
    assert first.stdout.count("wrote ") == 1  # rank 0 reports, the other rank is silent
    torchrun(setup, exp_dir, *options, "max_steps=3", "resume=true")
    checkpoints = exp_dir / "checkpoints"
    saved = load_file(str(checkpoints / "step_00000002" / MODEL_FILE))
    local = LanguageModelKind(config(setup, tmp_path), get_registry()).model.state_dict()
    assert saved.keys() == local.keys() and all(saved[k].shape == local[k].shape for k in saved)
    last = load_file(str(checkpoints / "step_00000003" / MODEL_FILE))
    assert any(not torch.equal(saved[k], last[k]) for k in saved)
    records = log_records(exp_dir)
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3]
    assert [r["step"] for r in records if r["split"] == "valid"] == [2]
    state = torch.load(checkpoints / "step_00000003" / "trainer.pt", weights_only=True)
    assert len(state["rng"]) == 2 and state["optimizer"]["state"]
    assert json.loads((checkpoints / "step_00000003" / "manifest.json").read_text())["step"] == 3


def test_torchrun_trains_a_codec_with_its_discriminator_under_ddp(setup, tmp_path, registry):
    from laura_core.model.codec import load_codec
    from tests.core.test_codec import setup_values

    asr = setup_values(setup)["manifest"]["asr"]
    exp_dir = tmp_path / "codec"
    torchrun(setup, exp_dir, "kind=codec", "codec.path=''", "model_size=''", "codec.name=laura_codec", "codec.size=tiny",
             f"data.tasks=[{{task: asr, manifest: {asr}}}]", "data.segment=0.2", "data.max_cuts=2",
             "gan.start_step=1", "max_steps=3", "save_every=3", "valid_every=0")
    records = [r for r in log_records(exp_dir) if r["split"] == "train"]
    assert [r["step"] for r in records] == [1, 2, 3] and "codec/disc" in records[-1]
    codec, identity = load_codec(exp_dir / "checkpoints" / "step_00000003", registry)
    assert identity.startswith("laura_codec-")
