"""``haven bench actions`` end to end, tiny: both phases answer, and every action queued during the timed
"on" phase is done by the worker afterwards (the worker opens what the service sealed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven_testdata import PHOTOS


@pytest.mark.slow
def test_bench_actions_end_to_end(tmp_path: Path) -> None:
    from haven.actions.bench import run_actions_bench

    r = run_actions_bench(
        photos=PHOTOS, max_photos=3, duration=1, concurrency=2, side=256, log=lambda m: None, rounds=1,
        keep=tmp_path / "b", drain=90,
    )
    assert r["worker"] == "after" and r["off"]["rps"] > 0 and r["on"]["rps"] > 0
    assert set(r["off"]["statuses"]) == set(r["on"]["statuses"]) == {"200"}
    a = r["actions"]
    assert a["drained_after_s"] is not None and a["pending"] == 0 and a["dead"] == 0
    assert a["done"] == 2 * a["webhooks_received"] == 2 * a["vault_blobs"] > 0 and a["signatures_ok"]
