"""`haven bench exchange` on a small set: both sides end with the same entries in their banks, the peer's
file in the order the mock serves the records (or sorted, on request), and the mock's CPU reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.banks import BankStore
from haven.exchanges.bench import run_bench
from haven.exchanges.store import ExchangeStore


@pytest.mark.parametrize("order", ["upstream", "sorted"])
def test_both_sides_hold_the_same_entries(tmp_path: Path, order: str) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    r = run_bench(3000, url, file_order=order)
    banks = BankStore(url)
    try:
        held = {
            b.name.split("-")[1]: {(e.signal, e.value) for e in banks.iter_entries(b.name)}
            for b in banks.list_banks()
        }
        assert set(held) == {"exchange", "import"}
        assert held["exchange"] == held["import"]
        assert len(held["exchange"]) == r["exchange_entries"] == r["import_entries"]
        assert abs(r["exchange_entries"] - 3000) <= 2  # 1.9 entries per NCMEC mock record
        # Every exchange entry has its provenance row: one item per entry on a first load.
        (ex,) = ExchangeStore(banks).exchanges()
        assert ExchangeStore(banks).counts(ex.name) == {"items": r["exchange_entries"], "tombstones": 0}
    finally:
        banks.close()
    assert r["pages"] == 2 and r["file_order"] == order and r["mock_cpu"] >= 0
    assert r["exchange_rate"] > 0 and r["import_rate"] > 0 and r["ratio"] > 0


def test_an_unknown_file_order_is_refused() -> None:
    with pytest.raises(ValueError, match="file_order"):
        run_bench(10, file_order="shuffled")
