"""Data-parallel training under `torchrun` on torch's engine: DistributedDataParallel (bucketed all-reduce of the
gradients, overlapped with the backward pass).

Every rank draws the same global batch and the same masks from the same generator, keeps its rows (rank::world) and
scales its loss so that the average of the ranks' gradients (DDP's all-reduce) is exactly the one-process gradient of
the global batch: the same global batch gives the same loss curve (up to float summation order) on any number of
processes, and a run's state (the generator of the global batch) resumes on any world size. gloo on CPUs, nccl on
GPUs. FSDP is not implemented: a 0.6B AR fits on one GPU beside a frozen 7B DLM in bf16."""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist


def init_from_env() -> None:
    """Join the process group torchrun describes (WORLD_SIZE > 1); a no-op in a plain process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def shard() -> tuple[int, int] | None:
    """(rank, world size) in a process group of two or more, else None."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.get_rank(), dist.get_world_size()
    return None


def is_main() -> bool:
    return shard() is None or shard()[0] == 0


class RecipeLoss(torch.nn.Module):
    """A recipe's loss on this rank's rows as a module, so DDP runs it: its forward is the recipe's `loss`, and the
    trainable model is its submodule (DDP syncs that model's gradients; the frozen DLM stays outside, unsynced)."""

    def __init__(self, recipe):
        super().__init__()
        self.recipe, self.model = recipe, recipe.model

    def forward(self, batch, generator: torch.Generator) -> torch.Tensor:
        part = shard()
        return self.recipe.loss(batch, generator) if part is None else self.recipe.loss(batch, generator, part)


def data_parallel(recipe) -> torch.nn.Module:
    """The recipe's loss module: wrapped in DistributedDataParallel in a process group of two or more (DDP first
    broadcasts rank 0's weights, then averages the gradients over the ranks in buckets during the backward pass)."""
    loss = RecipeLoss(recipe)
    if shard() is None:
        return loss
    return torch.nn.parallel.DistributedDataParallel(loss, device_ids=None, broadcast_buffers=False)


def no_sync(module: torch.nn.Module, sync: bool):
    """A context in which DDP does not all-reduce (the micro-batches before the last of an accumulated step)."""
    if sync or not isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return module.no_sync()


def mean_over_ranks(value: float) -> float:
    if shard() is None:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor) / dist.get_world_size()
