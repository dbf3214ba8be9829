"""Multi-process training under ``torchrun``: process group, devices, collective helpers.

``torchrun --nproc_per_node N -m sertool train CONF --exp-dir EXP`` starts N processes with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set; :func:`init_distributed` joins them into one process
group (NCCL on GPUs, gloo on CPUs), and each uses its own GPU (``cuda:LOCAL_RANK``). Without
those variables everything here is a no-op for one process, so the same code trains both ways.
Multi-node: run torchrun on each node with ``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint``.

Example:
    >>> dist_info = init_distributed("auto")
    >>> dist_info.rank, dist_info.world_size, dist_info.device
    (0, 1, device(type='cpu'))
    >>> all_reduce_mean(torch.tensor([1.0, 2.0]), dist_info)
    tensor([1., 2.])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from sertool.errors import SertoolError


@dataclass(frozen=True)
class DistInfo:
    """This process's place among the training processes, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """The process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → the process's GPU when CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SertoolError(f"device {name!r} requested but CUDA is not available")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SertoolError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SertoolError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type not in ("cpu", "cuda"):
        raise SertoolError(f"device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return device


def init_distributed(device_name: str) -> DistInfo:
    """Join the ``torchrun`` process group if there is one (idempotent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(minutes=60))
    return DistInfo(rank, world, local, device)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of ``t`` over processes (in place; ``t`` itself with one process)."""
    if info.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= info.world_size
    return t


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's ``obj``, in rank order (on every process)."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every process (e.g. an error raised only there)."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
