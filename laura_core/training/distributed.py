"""Data-parallel training over ``torch.distributed``: DDP or FSDP2, one process per device.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with more than one process the trainer
joins the process group (gloo on CPU, nccl on CUDA unless ``distributed.backend`` says otherwise) and
wraps the model as ``distributed.strategy`` says: ``ddp`` (the default) replicates it, ``fsdp``
shards every backbone decoder layer and the rest of the model (``fully_shard``).

The loss of a step is the mean over every output token of every rank's batch: each rank scales its
token sum by ``world_size / global_tokens``, and the gradient average of DDP and FSDP divides by
``world_size`` again, so N processes take the step one process would take on all N batches at once.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from laura_core.training.log import Meter

STRATEGIES = ("ddp", "fsdp")


@dataclass
class DistributedConfig:
    strategy: str = ""  # ddp or fsdp when torchrun starts several processes; "" = ddp
    backend: str = "auto"  # auto = nccl on CUDA, gloo on CPU


class Distributed:
    """This process's place in the job: rank, world size, device and how the model is wrapped."""

    def __init__(self, cfg: DistributedConfig):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.strategy = (cfg.strategy or "ddp") if self.world_size > 1 else ""
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        if self.world_size > 1 and not dist.is_initialized():
            backend = cfg.backend if cfg.backend != "auto" else ("nccl" if self.device.type == "cuda" else "gloo")
            dist.init_process_group(backend, device_id=self.device if backend == "nccl" else None)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        """Parameters split across ranks (FSDP): no rank can run the model alone."""
        return self.strategy == "fsdp"

    def wrap(self, model: nn.Module) -> nn.Module:
        """What the training forward runs: ``model`` itself, its DDP wrapper, or ``model`` sharded in place."""
        if self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            # Unused parameters are normal: a batch without audio input leaves the encoder idle.
            return DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda" else None,
                                           find_unused_parameters=True)
        if self.strategy == "fsdp":
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard

            mesh = init_device_mesh(self.device.type, (self.world_size,))
            model.always_run_encoder = True  # see LauraGPT.embed: ranks without audio still run the encoder
            # One pass through the GPT a step: every rank must gather each layer's shards as often as the others.
            model.length_groups = 1
            for layer in model.backbone.layers:
                fully_shard(layer, mesh=mesh)
            fully_shard(model, mesh=mesh)
        return model

    def no_sync(self, runner: nn.Module):
        """A context in which DDP keeps gradients local (accumulation); FSDP and one process always sync."""
        import contextlib

        return runner.no_sync() if self.strategy == "ddp" else contextlib.nullcontext()

    def global_sum(self, value: float) -> float:
        if self.world_size == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return float(total.item())

    def scaled_loss(self, loss: torch.Tensor, tokens: float) -> torch.Tensor:
        """The local token-mean ``loss`` (over ``tokens``, weighted) rescaled so that the averaged gradient
        is that of the mean over every rank's tokens (see the module docstring)."""
        if self.world_size == 1:
            return loss
        return loss * (tokens * self.world_size / max(self.global_sum(tokens), 1e-8))

    def reduce(self, meter: Meter) -> Meter:
        """``meter`` with stats and positions summed over ranks (ranks may have seen different tasks)."""
        if self.world_size == 1:
            return meter
        total = Meter(start=meter.start)
        for stats, positions, sums, counts in self.gather_objects((meter.stats, meter.positions, meter.sums,
                                                                   meter.counts)):
            total.add(stats, positions, sums, counts)
        return total

    def gather_objects(self, value: Any) -> list[Any]:
        if self.world_size == 1:
            return [value]
        every: list[Any] = [None] * self.world_size
        dist.all_gather_object(every, value)
        return every

    def gather_states(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """Every rank's ``state`` (tensors and containers): all_gather_object cannot unpickle tensors
        here, so each travels as ``torch.save`` bytes."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return [torch.load(io.BytesIO(raw), weights_only=True) for raw in self.gather_objects(buffer.getvalue())]

    def model_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The full model state dict on CPU; collective under FSDP, where only rank 0 gets it."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        if self.strategy != "fsdp":
            return {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        if self.strategy != "fsdp":
            return optimizer.state_dict()
        return get_optimizer_state_dict(model, optimizer,
                                        options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def load_optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        if self.strategy != "fsdp":
            optimizer.load_state_dict(state)
        else:
            set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()

