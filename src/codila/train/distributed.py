"""Data-parallel training under `torchrun` (DDP's gradient averaging, done by hand on the recipe's model).

Every rank draws the same global batch and the same masks from the same generator, keeps its rows (rank::world) and
scales its loss so that the average of the ranks' gradients is exactly the one-process gradient of the global batch:
the same global batch gives the same loss curve (up to float summation order) on any number of processes. gloo on
CPUs, nccl on GPUs. FSDP is not implemented: a 0.6B AR fits on one GPU beside a frozen 7B DLM in bf16."""

from __future__ import annotations

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


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Each gradient becomes the mean over the ranks (what DDP's all-reduce does)."""
    if shard() is None:
        return
    world = dist.get_world_size()
    for param in params:
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad /= world


def mean_over_ranks(value: float) -> float:
    if shard() is None:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor) / dist.get_world_size()
