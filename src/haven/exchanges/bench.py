"""``haven bench exchange``: bank entries applied per second from the NCMEC mock (HTTP, XML pages of 1,000
records, the apply loop with provenance rows and the checkpoint per page) against ``haven bank import`` of the
same entries as a Haven CSV file (the importer's path: read, validate, duplicate check, bulk insert), in the
same run on the same database engine. The goal is a ratio of at least 0.5: the API path is not much slower
than a file import.

The file lists the entries in the order the mock serves them, as a list downloaded from the same source
would: both sides then receive the same values in the same order. (Sorted by value, the file would let the
importer append to the bank's digest index instead of writing all over it: an import of 300 k entries on
SQLite wrote 118 MB instead of 594 MB and used 4.7 instead of 5.2 CPU seconds, an advantage no API client
has.)

The mock's own CPU seconds during the fetch are reported beside the client's: on a small machine it competes
with the client for the cores, which the wall-clock rate includes and the client's CPU seconds do not."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from haven.banks import BankStore
from haven.exchanges.clients import ClientSettings
from haven.exchanges.fetch import fetch
from haven.exchanges.mock import DEFAULT_CREDENTIALS, MockData
from haven.exchanges.store import ExchangeStore
from haven.secrets import KeyRing, new_key
from haven.service.bench import cpu_seconds
from haven.store.db import upgrade_database

ENTRIES_PER_RECORD = 1.9  # NCMEC mock: images carry MD5 + PDQ, every 10th record is a video (MD5)


class _mock_process:
    def __init__(self, records: int) -> None:
        self.records = records
        self.url, self.pid = "", 0

    def __enter__(self) -> _mock_process:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "haven.cli.main",
                "exchange-mock",
                "--type",
                "ncmec",
                "--count",
                str(self.records),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        import httpx

        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the NCMEC mock did not start")
            try:
                httpx.get(f"http://127.0.0.1:{port}/_mock/calls", timeout=2)
                self.url, self.pid = f"http://127.0.0.1:{port}", self.proc.pid
                return self
            except httpx.HTTPError:
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_bench(entries: int, database: str | None = None, *, file_order: str = "upstream") -> dict[str, Any]:
    """Run both paths on ``entries`` bank entries; returns the counts, times, rates and their ratio.
    ``file_order``: the peer's file in the order the mock serves the entries (``upstream``), or ``sorted``
    by signal and value (the peer of the runs before 2026-12-05 17:00 UTC; see the module docstring)."""
    if file_order not in ("upstream", "sorted"):
        raise ValueError(f"file_order must be upstream or sorted, not {file_order!r}")
    with tempfile.TemporaryDirectory(prefix="haven-bench-exchange-") as tmp:
        url = database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_database(url)
        banks = BankStore(url)
        tag = uuid.uuid4().hex[:8]
        xs = ExchangeStore(banks, KeyRing([new_key()]))
        records = max(1, round(entries / ENTRIES_PER_RECORD))
        try:
            # The mock runs in its own process, as a remote API would: its XML is not the client's work.
            with _mock_process(records) as mock:
                mock_url = mock.url
                name = f"bench-ncmec-{tag}"
                xs.add(
                    name,
                    "ncmec",
                    f"bench-exchange-{tag}",
                    options={"url": mock_url, "lag": 0},
                    credentials=DEFAULT_CREDENTIALS["ncmec"],
                )
                m0 = cpu_seconds([mock.pid])
                t0, c0 = time.perf_counter(), time.process_time()
                result = fetch(xs, name, settings=ClientSettings(timeout=120))
                ex_seconds, ex_cpu = time.perf_counter() - t0, time.process_time() - c0
                mock_cpu = cpu_seconds([mock.pid]) - m0
            data = MockData("ncmec", records)  # the same generated set, computed here
            # In the order the mock serves them (see the module docstring); no value repeats.
            live = [s for i in data.order() if i not in data.deleted for s in data.signals(i)]
            if file_order == "sorted":
                live.sort()
            ex_entries = sum(
                v["total"] for v in banks.bank_stats(f"bench-exchange-{tag}")["entries"].values()
            )
            path = Path(tmp) / "same-entries.csv"
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["signal", "value"])
                w.writerows(live)
            bank2 = f"bench-import-{tag}"
            banks.create_bank(bank2)
            t0, c0 = time.perf_counter(), time.process_time()
            imported = banks.import_file(bank2, path, "csv")
            im_seconds, im_cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            banks.close()
    ex_rate = ex_entries / ex_seconds if ex_seconds else 0.0
    im_rate = imported.rows_added / im_seconds if im_seconds else 0.0
    return {
        "database": url.split(":", 1)[0],
        "records": records,
        "pages": result.pages,
        "exchange_entries": ex_entries,
        "exchange_seconds": ex_seconds,
        "exchange_rate": ex_rate,
        "import_entries": imported.rows_added,
        "import_seconds": im_seconds,
        "import_rate": im_rate,
        "ratio": ex_rate / im_rate if im_rate else 0.0,
        # CPU seconds of this process (the mock's are its own): less sensitive to a shared box's load.
        "exchange_cpu": ex_cpu,
        "import_cpu": im_cpu,
        "cpu_ratio": (ex_entries / ex_cpu) / (imported.rows_added / im_cpu) if ex_cpu and im_cpu else 0.0,
        "mock_cpu": mock_cpu,
        "file_order": file_order,
        "load": os.getloadavg()[0],
    }
