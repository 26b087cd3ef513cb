"""A real job worker process for the kill -9 tests: ``python worker_proc.py JOBS_URL DB_URL MARKS LEASE NS``.

Job ``mark`` appends ``start N`` to MARKS, sleeps ``seconds``, then appends ``done N``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from haven.jobs import JobQueue
from haven.store.db import make_engine


def main() -> None:
    jobs_url, db_url, marks, lease, namespace = sys.argv[1:6]
    engine = make_engine(db_url)
    queue = JobQueue.from_url(
        jobs_url,
        engine,
        lease_seconds=float(lease),
        poll_seconds=0.05,
        namespace=namespace,
        queue_name=namespace,
        maintenance_chance=1_000_000,
    )
    path = Path(marks)

    def mark(n: int, seconds: float) -> None:
        with path.open("a") as fh:
            fh.write(f"start {n}\n")
        time.sleep(seconds)
        with path.open("a") as fh:
            fh.write(f"done {n}\n")

    queue.register("mark", mark, max_retries=3, min_backoff=0.1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with queue.worker(threads=2):
        print("ready", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
