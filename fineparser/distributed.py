"""Several processes, GPUs or nodes through ``torchrun`` and DistributedDataParallel.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them and starts the process group (``nccl`` on CUDA, ``gloo`` on the
CPU). Without them the run is a single process and nothing is initialised. Example::

    torchrun --nproc-per-node 4 $(which fineparser) train --config run.json
    torchrun --nnodes 2 --node-rank 0 --master-addr host0 --nproc-per-node 8 $(which fineparser) train ...

Each process takes every ``world_size``-th training pair (DistributedSampler); the batch size is per
process. Evaluation splits the clips to encode across processes and gathers the features.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, world size, local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ValueError."""
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device=cuda but no CUDA GPU is available (use device=auto or cpu)")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def several_processes() -> bool:
    """Whether ``torchrun`` started several processes (``WORLD_SIZE > 1``): one must then not
    remove an output folder the others may be writing into."""
    return os.environ.get("WORLD_SIZE", "1") not in ("", "0", "1")


def init_distributed(device_preference: str = "auto") -> DistInfo:
    """Start the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, device)


def shutdown_distributed() -> None:
    """Destroy the process group if one was started."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_true(flag: bool, info: DistInfo) -> bool:
    """Whether ``flag`` is true on any process (every process must call this)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_processes(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average a dict of floats over processes (every process must call this with the same keys)."""
    return {k: v / info.world_size for k, v in sum_over_processes(values, info).items()}


def sum_over_processes(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Sum a dict of floats over processes (every process must call this with the same keys)."""
    if not info.enabled or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's ``obj`` (picklable, CPU tensors inside), in rank order, on every process."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def no_sync(net, skip: bool):
    """DDP's ``no_sync()`` (no gradient all-reduce) when ``skip`` and ``net`` is wrapped in DDP:
    the batches of an accumulation group before its last one reduce nothing."""
    from contextlib import nullcontext

    return net.no_sync() if skip and hasattr(net, "no_sync") else nullcontext()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
