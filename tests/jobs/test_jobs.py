"""The job queue: runs jobs, retries with backoff, dead-letters with the error, survives kill -9.

The database broker runs on SQLite and PostgreSQL (``db_url``); Dramatiq's Redis and RabbitMQ brokers run
against the servers on this machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from haven.errors import NotFoundError, UsageError
from haven.jobs import DeadLetter, JobQueue, current_try
from haven.store.db import make_engine, upgrade_database

HERE = Path(__file__).parent
REDIS_URL = os.environ.get("HAVEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP_URL = os.environ.get("HAVEN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _reachable(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade_database(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def _wait(cond, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_runs_jobs_in_order_of_arrival(engine: Engine) -> None:
    q = JobQueue.from_url("", engine, poll_seconds=0.05)
    seen: list[tuple[int, int]] = []
    q.register("add", lambda a, b=0: seen.append((a, b)))
    for i in range(5):
        q.enqueue("add", i, b=i * 10)
    assert q.pending() == 5
    with q.worker(threads=1):
        q.join(timeout=20)
    assert seen == [(i, i * 10) for i in range(5)]
    assert q.pending() == 0


def test_a_busy_worker_does_not_wait_out_the_poll_between_jobs(engine: Engine) -> None:
    # A consumer holding its fill (prefetch = 2 × threads) waits for a free slot; a finished job must wake
    # it, or every fill of 4 costs a wait (the worker's 0.25 s timeout: 80 jobs would take ≥ 4.75 s).
    q = JobQueue.from_url("", engine, poll_seconds=1.0)
    done: list[int] = []
    q.register("note", done.append)
    for i in range(80):
        q.enqueue("note", i)
    started = time.monotonic()
    with q.worker(threads=2, schedule=False):
        q.join(timeout=60)
    assert sorted(done) == list(range(80))
    assert time.monotonic() - started < 2.5


def test_retries_then_dead_letter_with_error(engine: Engine) -> None:
    q = JobQueue.from_url("db", engine, poll_seconds=0.05)
    tries: list[int] = []
    dead: list[DeadLetter] = []
    healed: list[bool] = []

    def flaky(n: int) -> None:
        tries.append(current_try())
        if not healed:
            raise RuntimeError(f"receiver said no to {n}")

    q.register("flaky", flaky, max_retries=2, min_backoff=0.05, max_backoff=0.2, on_dead=dead.append)
    started = time.monotonic()
    q.enqueue("flaky", 7)
    with q.worker(threads=1):
        _wait(lambda: q.dead_count() == 1)
    assert tries == [1, 2, 3] and time.monotonic() - started >= 0.05
    [letter] = q.dead_letters()
    assert letter.job == "flaky" and letter.args == [7] and letter.tries == 3
    assert letter.last_error_line == "RuntimeError: receiver said no to 7"
    assert dead and dead[0].id == letter.id
    # a retry gets a fresh set of tries and leaves the list
    healed.append(True)
    q.retry_dead(letter.id)
    assert q.dead_letters() == [] and len(q.dead_letters(include_retried=True)) == 1
    with q.worker(threads=1):
        q.join(timeout=20)
    assert tries == [1, 2, 3, 1] and q.dead_count() == 0
    with pytest.raises(UsageError):
        q.retry_dead(letter.id)
    with pytest.raises(NotFoundError):
        q.retry_dead(10_000)


def test_unknown_job_is_dead_lettered(engine: Engine) -> None:
    q = JobQueue.from_url("", engine, poll_seconds=0.05)
    q.register("known", lambda: None)
    q.enqueue("nobody.handles.this", 1)
    with q.worker(threads=1):
        _wait(lambda: q.dead_count() == 1)
    assert q.dead_letters()[0].job == "nobody.handles.this"


def test_delay_is_respected(engine: Engine) -> None:
    q = JobQueue.from_url("", engine, poll_seconds=0.05)
    at: list[float] = []
    q.register("stamp", lambda: at.append(time.monotonic()))
    t0 = time.monotonic()
    q.enqueue("stamp", delay=0.6)
    with q.worker(threads=1):
        _wait(lambda: bool(at))
    assert at[0] - t0 >= 0.6


def test_periodic_jobs_run_once_per_period_across_workers(engine: Engine) -> None:
    a = JobQueue.from_url("", engine)
    b = JobQueue.from_url("", engine)
    for q in (a, b):
        q.every(3600, "purge")
    assert a.run_due(now=7200.5) == ["purge"]
    assert b.run_due(now=7300.0) == []  # same hour: the other worker had it
    assert b.run_due(now=10800.0) == ["purge"]
    assert a.pending() == 2


def test_bad_url_is_a_usage_error(engine: Engine) -> None:
    with pytest.raises(UsageError, match="HAVEN_JOBS_URL"):
        JobQueue.from_url("kafka://x", engine)


def _spawn(jobs_url: str, db_url: str, marks: Path, lease: float, ns: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "worker_proc.py"), jobs_url, db_url, str(marks), str(lease), ns],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()


def _kill9_survives(jobs_url: str, db_url: str, tmp_path: Path, lease: float) -> None:
    ns = f"haventest{uuid.uuid4().hex[:8]}"
    upgrade_database(db_url)
    engine = make_engine(db_url)
    queue = JobQueue.from_url(jobs_url, engine, namespace=ns, queue_name=ns, lease_seconds=lease)
    marks = tmp_path / "marks.txt"
    marks.touch()
    try:
        queue.enqueue("mark", 1, 30.0)  # long enough that the first worker is mid-job when killed
        first = _spawn(jobs_url, db_url, marks, lease, ns)
        _wait(lambda: "start 1" in marks.read_text())
        _kill(first)
        assert "done 1" not in marks.read_text()
        queue.enqueue("mark", 2, 0.0)
        # the job the killed worker held is handed to the next worker once its lease/heartbeat runs out;
        # the re-run job is told to sleep 30 s again, so it is enough that it *starts* again
        second = _spawn(jobs_url, db_url, marks, lease, ns)
        try:
            _wait(lambda: marks.read_text().count("start 1") == 2, timeout=lease * 3 + 20)
            _wait(lambda: "done 2" in marks.read_text())
        finally:
            _kill(second)
    finally:
        _cleanup(queue, jobs_url, ns)
        engine.dispose()


def _cleanup(queue: JobQueue, jobs_url: str, ns: str) -> None:
    if jobs_url.startswith("amqp"):
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(jobs_url))
        ch = conn.channel()
        for name in (ns, f"{ns}.DQ", f"{ns}.XQ"):
            ch.queue_delete(name)
        conn.close()
    elif jobs_url.startswith("redis"):
        import redis

        r = redis.Redis.from_url(jobs_url)
        keys = list(r.scan_iter(f"{ns}:*"))
        if keys:
            r.delete(*keys)
    queue.close()


def test_kill9_database_broker(db_url: str, tmp_path: Path) -> None:
    _kill9_survives("", db_url, tmp_path, lease=1.5)


@pytest.mark.skipif(not _reachable("127.0.0.1", 6379), reason="no Redis on 127.0.0.1:6379")
def test_kill9_redis_broker(sqlite_url: str, tmp_path: Path) -> None:
    _kill9_survives(REDIS_URL, sqlite_url, tmp_path, lease=1.5)


@pytest.mark.skipif(not _reachable("127.0.0.1", 5672), reason="no RabbitMQ on 127.0.0.1:5672")
def test_kill9_rabbitmq_broker(sqlite_url: str, tmp_path: Path) -> None:
    _kill9_survives(AMQP_URL, sqlite_url, tmp_path, lease=1.5)


@pytest.mark.skipif(not _reachable("127.0.0.1", 6379), reason="no Redis on 127.0.0.1:6379")
def test_redis_dead_letter(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    ns = f"haventest{uuid.uuid4().hex[:8]}"
    q = JobQueue.from_url(REDIS_URL, engine, namespace=ns, queue_name=ns)
    calls = threading.Event()

    def boom() -> None:
        calls.set()
        raise ValueError("always")

    q.register("boom", boom, max_retries=1, min_backoff=0.05, max_backoff=0.1)
    try:
        q.enqueue("boom")
        with q.worker(threads=1):
            _wait(lambda: q.dead_count() == 1)
        assert q.dead_letters()[0].last_error_line == "ValueError: always"
    finally:
        _cleanup(q, REDIS_URL, ns)
        engine.dispose()
