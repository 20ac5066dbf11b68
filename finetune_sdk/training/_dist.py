"""torch.distributed support of the local trainer, for runs launched by ``torchrun``.

``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in every
process. With ``WORLD_SIZE`` absent or 1 nothing here starts a process group and the trainer runs its
single-process path unchanged. Otherwise:

- each process joins the group (``nccl`` on CUDA, ``gloo`` on the CPU) and uses GPU ``LOCAL_RANK``;
- the training examples of each epoch are shuffled the same way on every rank, padded to a multiple of the
  world size with examples from the start of the order, and dealt out round-robin (:func:`shard_indices`,
  the same contract as ``torch.utils.data.DistributedSampler``), so every rank runs the same number of steps;
- only rank 0 writes the run folder; stop and early-stopping decisions are broadcast from it.

The pure functions (:func:`dist_context_from_env`, :func:`shard_indices`) do not import torch.

Examples:
    >>> dist_context_from_env({})
    DistContext(rank=0, local_rank=0, world_size=1, local_world_size=1)
    >>> shard_indices([4, 2, 0, 3, 1], rank=1, world_size=2)
    [2, 3, 4]
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DistContext",
    "dist_context_from_env",
    "init_distributed",
    "shard_indices",
]

#: how long collectives wait for the slowest rank (rank 0 exports the model while the others wait)
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a ``torchrun`` launch (``world_size == 1``: a plain single process)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        """Whether several processes train together (a process group is needed)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder (rank 0)."""
        return self.rank == 0


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={value!r} is not an integer (torchrun sets it)") from exc


def dist_context_from_env(env: Mapping[str, str]) -> DistContext:
    """The launch described by ``torchrun``'s environment variables (defaults: one process).

    Raises:
        ValueError: a variable is not an integer, or ``RANK`` is outside ``[0, WORLD_SIZE)``.
    """
    world = max(1, _int(env, "WORLD_SIZE", 1))
    if world == 1:
        return DistContext()
    rank = _int(env, "RANK", 0)
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside [0, WORLD_SIZE={world})")
    local_rank = _int(env, "LOCAL_RANK", 0)
    local_world = max(1, _int(env, "LOCAL_WORLD_SIZE", 1))
    return DistContext(rank=rank, local_rank=local_rank, world_size=world, local_world_size=local_world)


def shard_indices(order: Sequence[int], *, rank: int, world_size: int) -> list[int]:
    """This rank's share of ``order`` (one epoch's shuffled example indices).

    ``order`` is padded with its own first items to a multiple of ``world_size`` and dealt out
    round-robin: every rank gets ``ceil(len(order) / world_size)`` items, the shards are disjoint when
    ``len(order)`` divides evenly, and together they always cover ``order``.

    Raises:
        ValueError: ``rank`` is outside ``[0, world_size)`` or ``order`` is empty.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside [0, world_size={world_size})")
    items = list(order)
    if world_size == 1:
        return items
    if not items:
        raise ValueError("cannot shard an empty example order")
    total = -(-len(items) // world_size) * world_size
    padded = items + (items * (total // len(items) + 1))[: total - len(items)]
    return padded[rank:total:world_size]


def init_distributed(ctx: DistContext, device_type: str) -> Any:
    """Join the process group of ``ctx`` (``nccl`` for ``device_type="cuda"``, else ``gloo``).

    Returns the torch device this rank trains on (``cuda:<LOCAL_RANK>`` on GPUs). Does nothing but return
    the device when ``ctx`` is a single process.
    """
    import torch
    import torch.distributed as dist

    if device_type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        if ctx.enabled:
            torch.cuda.set_device(device)
    else:
        device = torch.device(device_type)
    if ctx.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo",
                                rank=ctx.rank, world_size=ctx.world_size, timeout=PROCESS_GROUP_TIMEOUT)
    return device


def destroy_distributed() -> None:
    """Leave the process group (if one was joined)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
