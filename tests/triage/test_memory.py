"""The run's memory bound: how it is shared, and that the kernel really holds a worker to its share."""

from __future__ import annotations

import subprocess
import sys

import pytest

from haven.cli.triage_cmd import parse_size
from haven.errors import UsageError
from haven.triage.memory import FORKSERVER_BYTES, PARENT_BYTES, plan_memory

MiB = 1 << 20


@pytest.mark.parametrize("total_mib, jobs", [(1024, 1), (1536, 2), (1536, 4), (4096, 16), (65536, 64)])
def test_the_shares_add_up_to_no_more_than_the_bound(total_mib: int, jobs: int) -> None:
    plan = plan_memory(total_mib * MiB, jobs, 512 * MiB, 16 * MiB)
    parent = PARENT_BYTES + plan.inflight_bytes + plan.hold_bytes + (FORKSERVER_BYTES if plan.jobs > 1 else 0)
    assert parent + plan.jobs * plan.worker_bytes <= total_mib * MiB
    assert plan.hold_bytes <= plan.worker_bytes // 6 and plan.decode_bytes > 0
    assert 1 <= plan.jobs <= jobs


def test_fewer_workers_when_their_shares_would_be_too_small_and_a_bound_too_small_is_refused() -> None:
    assert plan_memory(1024 * MiB, 16, 512 * MiB, 16 * MiB).jobs < 16
    with pytest.raises(UsageError, match="too small"):
        plan_memory(256 * MiB, 2, 512 * MiB, 16 * MiB)


def test_parse_size() -> None:
    assert parse_size("1536M") == 1536 * MiB and parse_size("4G") == 4 << 30 and parse_size("2GiB") == 2 << 30
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(UsageError):
            parse_size(bad)


def test_a_worker_limited_to_its_share_gets_memory_errors_past_it() -> None:
    code = (
        "from haven.triage.workers import limit_memory\n"
        "limit_memory(300 << 20)\n"
        "small = bytearray(100 << 20)\n"  # within the share
        "try:\n"
        "    big = bytearray(600 << 20)\n"
        "except MemoryError:\n"
        "    print('refused')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr
