"""How many CPU threads torch should use for a model of a given size.

On small models torch's OpenMP pool costs more than it gains: every matmul is tiny, and the threads spin
at barriers. On a busy 2-core machine a 1M-parameter model trains 10-25x slower with 2 threads than with
1 (measured). Below :data:`SMALL_MODEL_PARAMS` parameters the local backend therefore uses one thread on
the CPU; above it, torch's default. ``FINETUNE_SDK_TORCH_THREADS`` overrides both.
"""

from __future__ import annotations

import os

__all__ = ["SMALL_MODEL_PARAMS", "cpu_threads_for"]

#: models smaller than this run single-threaded on the CPU
SMALL_MODEL_PARAMS = 50_000_000


def cpu_threads_for(n_params: int) -> int | None:
    """The torch thread count for a model of ``n_params`` parameters on the CPU (``None``: leave torch's)."""
    override = os.environ.get("FINETUNE_SDK_TORCH_THREADS", "").strip()
    if override:
        try:
            return max(1, int(override))
        except ValueError:
            return None
    return 1 if n_params < SMALL_MODEL_PARAMS else None
