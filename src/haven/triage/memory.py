"""The memory bound of a triage run (``--max-memory``), split between the triage process and its workers.

Evidence can ask for any amount of memory: a member that says it is small and is not, a
13,000 × 13,000 PNG, a batch of big members in flight to every worker at once. So the run gets
one bound for the whole process tree, whatever ``--jobs`` is, and each consumer a share:

- the triage process: its own baseline (``PARENT_BYTES``: Python, the case database, the walk's
  state), plus the members' bytes in flight to the workers (``inflight_bytes``), plus one
  member held to be opened (``hold_bytes``);
- the forkserver that starts the workers (``FORKSERVER_BYTES``);
- each worker: ``worker_bytes``, enforced by the kernel (``RLIMIT_DATA`` above what the worker
  uses when it starts): the batch it was sent (up to twice ``hold_bytes`` while it is unpickled)
  and one image decoded, refused from its header when its decoding would not fit (``decode_bytes``).

When ``jobs`` workers of at least ``MIN_WORKER_BYTES`` do not fit, fewer are started; when not
even one fits, the bound is refused as too small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from haven.errors import UsageError
from haven.media.limits import GiB, MiB

PARENT_BYTES = 384 * MiB
FORKSERVER_BYTES = 64 * MiB
WORKER_BASE_BYTES = 96 * MiB  # a worker's own baseline (Python, NumPy, Pillow, the hashing kernels)
MIN_WORKER_BYTES = 192 * MiB
MIN_MEMORY = PARENT_BYTES + FORKSERVER_BYTES + 2 * MIN_WORKER_BYTES


def default_max_memory() -> int:
    """Half the machine's physical memory, at least ``MIN_MEMORY``."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = 8 * GiB
    return max(MIN_MEMORY, physical // 2)


@dataclass(frozen=True)
class MemoryPlan:
    total: int  # the bound for the whole process tree
    jobs: int  # worker processes (1: the work runs in the triage process itself)
    worker_bytes: int  # each worker's share (the triage process's, with one job)
    hold_bytes: int  # the biggest member or image held whole in memory
    inflight_bytes: int  # members' bytes sent to workers and not answered yet, at most
    decode_bytes: int  # the biggest estimated decode of one image

    def describe(self) -> dict[str, int]:
        return dict(self.__dict__)


def plan_memory(total: int, jobs: int, max_member_bytes: int, batch_bytes: int) -> MemoryPlan:
    """Split ``total`` bytes for ``jobs`` workers (see the module docstring); a ``UsageError`` when too
    small."""
    if total < MIN_MEMORY:
        raise UsageError(
            f"--max-memory {total >> 20} MiB is too small: a triage needs at least {MIN_MEMORY >> 20} MiB"
        )
    jobs = max(1, jobs)
    pool = 0 if jobs == 1 else FORKSERVER_BYTES
    avail = total - PARENT_BYTES - pool
    while True:
        inflight = min(jobs * 3 * batch_bytes, avail // 8)
        # avail = inflight + hold + jobs * share, with hold = share / 6
        share = int((avail - inflight) / (jobs + 1 / 6))
        if share >= MIN_WORKER_BYTES or jobs == 1:
            break
        jobs -= 1
        if jobs == 1:
            avail = total - PARENT_BYTES
    hold = min(max_member_bytes, share // 6)
    decode = max(0, share - WORKER_BASE_BYTES - 2 * max(hold, batch_bytes))
    return MemoryPlan(total, jobs, share, hold, inflight, decode)
