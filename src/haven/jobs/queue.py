"""``JobQueue``: Haven's durable job queue, on Dramatiq, over the database, Redis or RabbitMQ.

The backend is one URL (``Settings.jobs_url``, ``HAVEN_JOBS_URL``): empty or ``db`` for the database broker
(no server: SQLite for ``make run``, or the PostgreSQL Haven already uses), ``redis://…`` or ``amqp://…``
for Dramatiq's own brokers. Enqueuers and workers name jobs by string, so a process that only enqueues
(an API worker) needs no handlers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import dramatiq
from dramatiq.common import current_millis
from dramatiq.message import Message
from dramatiq.middleware import (
    AgeLimit,
    CurrentMessage,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from haven.errors import NotFoundError, UsageError
from haven.jobs.dbbroker import DEFAULT_LEASE_SECONDS, DEFAULT_POLL_SECONDS, DatabaseBroker
from haven.jobs.deadletters import DeadLetter, DeadLetterRecorder, to_dead_letter
from haven.jobs.models import DeadLetter as DeadLetterRow
from haven.jobs.models import ScheduleSlot
from haven.store.db import make_session_factory

log = logging.getLogger("haven.jobs")
DEFAULT_QUEUE = "haven"


def current_try() -> int:
    """1 on a job's first run, 2 on its first retry … (inside a job handler)."""
    message = CurrentMessage.get_current_message()
    return int(message.options.get("retries", 0)) + 1 if message is not None else 1


@dataclass(frozen=True)
class Job:
    """One job to queue: its name, arguments and (optionally) its own number of tries."""

    name: str
    args: tuple[Any, ...] = ()
    max_tries: int | None = None


@dataclass(frozen=True)
class _Periodic:
    name: str
    job: str
    seconds: float


class JobQueue:
    """Register job handlers, enqueue jobs, run workers, and read or retry the dead-letter list."""

    def __init__(
        self, broker: dramatiq.Broker, engine: Engine, *, queue_name: str = DEFAULT_QUEUE, backend: str = "db"
    ) -> None:
        self.broker = broker
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.queue_name = queue_name
        self.backend = backend
        self._dead_hooks: dict[str, Callable[[DeadLetter], None]] = {}
        self._periodic: list[_Periodic] = []
        broker.add_middleware(DeadLetterRecorder(engine, self._dead_hooks))
        broker.declare_queue(queue_name)

    @classmethod
    def from_url(
        cls,
        url: str,
        engine: Engine,
        *,
        queue_name: str = DEFAULT_QUEUE,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        namespace: str = "haven",
        maintenance_chance: int | None = None,
    ) -> JobQueue:
        """The queue for ``url``: ``""``/``db`` (the database of ``engine``), ``redis://…``, ``amqp://…``.

        ``lease_seconds`` is how soon a killed worker's job is handed out again: the database lease, or the
        Redis broker's heartbeat timeout (RabbitMQ redelivers as soon as the connection drops).
        """
        middleware = _middleware()
        if url in ("", "db", "database"):
            broker: dramatiq.Broker = DatabaseBroker(
                engine, middleware=middleware, lease_seconds=lease_seconds, poll_seconds=poll_seconds
            )
            backend = "db"
        elif url.startswith(("redis://", "rediss://", "unix://")):
            from dramatiq.brokers.redis import RedisBroker

            extra = {"maintenance_chance": maintenance_chance} if maintenance_chance is not None else {}
            broker = RedisBroker(
                url=url,
                namespace=namespace,
                middleware=middleware,  # type: ignore[no-untyped-call]
                heartbeat_timeout=int(lease_seconds * 1000),
                **extra,
            )
            backend = "redis"
        elif url.startswith(("amqp://", "amqps://")):
            from dramatiq.brokers.rabbitmq import RabbitmqBroker

            broker = RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)
            backend = "rabbitmq"
        else:
            raise UsageError(f"HAVEN_JOBS_URL {url!r}: want empty (the database), redis://… or amqp://…")
        return cls(broker, engine, queue_name=queue_name, backend=backend)

    # -- handlers --------------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        max_retries: int = 5,
        min_backoff: float = 1.0,
        max_backoff: float = 300.0,
        time_limit: float = 600.0,
        on_dead: Callable[[DeadLetter], None] | None = None,
        permanent: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Make ``fn`` the handler of job ``name``: retried ``max_retries`` times with exponential backoff
        from ``min_backoff`` to ``max_backoff`` seconds, then dead-lettered (and ``on_dead`` called). An
        exception of a ``permanent`` class dead-letters the job at once, without retries."""
        options: dict[str, Any] = {
            "max_retries": max_retries,
            "min_backoff": int(min_backoff * 1000),
            "max_backoff": int(max_backoff * 1000),
            "time_limit": int(time_limit * 1000),
        }
        if permanent:
            options["throws"] = permanent
        dramatiq.Actor(
            fn, broker=self.broker, actor_name=name, queue_name=self.queue_name, priority=0, options=options
        )
        if on_dead is not None:
            self._dead_hooks[name] = on_dead

    def job(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of ``register``."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.register(name, fn, **options)
            return fn

        return decorate

    # -- enqueueing ------------------------------------------------------------------------------------
    def enqueue(
        self, name: str, *args: Any, delay: float | None = None, max_tries: int | None = None, **kwargs: Any
    ) -> str:
        """Put one job on the queue (durably, before returning); returns its message id. ``max_tries``
        overrides the handler's number of tries for this one job."""
        message = self._message(name, args, kwargs, max_tries)
        self.broker.enqueue(message, delay=int(delay * 1000) if delay else None)
        return message.message_id

    @property
    def transactional(self) -> bool:
        """Whether jobs can be queued inside a database transaction (the database broker)."""
        return isinstance(self.broker, DatabaseBroker)

    def enqueue_in(
        self,
        session: Session | Connection,
        name: str,
        *args: Any,
        max_tries: int | None = None,
        **kwargs: Any,
    ) -> str:
        """Queue a job as part of ``session``'s transaction (database broker only: see ``transactional``);
        call ``wake()`` after the commit."""
        message = self._message(name, args, kwargs, max_tries)
        self._outbox().add_to(session, message)
        return message.message_id

    def enqueue_all_in(self, session: Session | Connection, jobs: list[Job]) -> list[str]:
        """``enqueue_in`` for several jobs at once, with one insert statement; returns their message ids."""
        messages = [self._message(j.name, j.args, {}, j.max_tries) for j in jobs]
        if messages:
            self._outbox().add_all_to(session, messages)
        return [m.message_id for m in messages]

    def _outbox(self) -> DatabaseBroker:
        if not isinstance(self.broker, DatabaseBroker):
            raise UsageError(f"the {self.backend} broker cannot queue jobs inside a database transaction")
        return self.broker

    def _message(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], max_tries: int | None
    ) -> Message[Any]:
        options = {"max_retries": max_tries - 1} if max_tries is not None else {}
        return Message(queue_name=self.queue_name, actor_name=name, args=args, kwargs=kwargs, options=options)

    def wake(self) -> None:
        if isinstance(self.broker, DatabaseBroker):
            self.broker.wake()

    # -- periodic jobs ---------------------------------------------------------------------------------
    def every(self, seconds: float, job: str, *, name: str | None = None) -> None:
        """Run ``job`` once per ``seconds`` across all workers (each worker's scheduler offers it; the
        database lets exactly one enqueue per period)."""
        self._periodic.append(_Periodic(name or job, job, seconds))

    def run_due(self, now: float | None = None) -> list[str]:
        """Enqueue the periodic jobs whose period has begun and not yet been claimed; returns their names."""
        now = time.time() if now is None else now
        started = []
        for p in self._periodic:
            slot = int(now // p.seconds)
            with self.sessions() as s:
                try:
                    s.add(ScheduleSlot(name=p.name, slot=slot, enqueued_at=current_millis()))
                    s.commit()
                except SAIntegrityError:
                    continue  # another worker has it
            self.enqueue(p.job)
            started.append(p.name)
        return started

    # -- workers ---------------------------------------------------------------------------------------
    def worker(self, *, threads: int = 2, schedule: bool = True) -> JobWorker:
        """A worker running ``threads`` jobs at once in this process (start it, stop it)."""
        return JobWorker(self, threads=threads, schedule=schedule)

    def pending(self) -> int | None:
        """Jobs waiting or running (database broker; None where the broker cannot say cheaply)."""
        if isinstance(self.broker, DatabaseBroker):
            return self.broker.pending(self.queue_name)
        return None

    def join(self, timeout: float = 30.0) -> None:
        """Wait until the queue is empty (tests, benchmarks)."""
        self.broker.join(self.queue_name, timeout=int(timeout * 1000))

    # -- dead letters ----------------------------------------------------------------------------------
    def dead_letters(
        self, *, job: str | None = None, include_retried: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        """Jobs that failed every try, newest first."""
        q = select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)
        if job:
            q = q.where(DeadLetterRow.job == job)
        if not include_retried:
            q = q.where(DeadLetterRow.retried_at.is_(None))
        with self.sessions() as s:
            return [to_dead_letter(r) for r in s.scalars(q)]

    def dead_count(self) -> int:
        with self.sessions() as s:
            return int(
                s.scalar(
                    select(func.count()).select_from(DeadLetterRow).where(DeadLetterRow.retried_at.is_(None))
                )
                or 0
            )

    def dead_letter(self, dead_id: int) -> DeadLetter:
        with self.sessions() as s:
            row = s.get(DeadLetterRow, dead_id)
            if row is None:
                raise NotFoundError(f"no dead letter {dead_id}")
            return to_dead_letter(row)

    def retry_dead(self, dead_id: int) -> str:
        """Enqueue a dead-lettered job again (with a fresh set of tries); returns the new message id."""
        with self.sessions() as s:
            row = s.get(DeadLetterRow, dead_id)
            if row is None:
                raise NotFoundError(f"no dead letter {dead_id}")
            if row.retried_at is not None:
                raise UsageError(f"dead letter {dead_id} was already retried")
            args, kwargs = json.loads(row.args)
            s.execute(
                update(DeadLetterRow).where(DeadLetterRow.id == dead_id).values(retried_at=current_millis())
            )
            s.commit()
        return self.enqueue(row.job, *args, **kwargs)

    def close(self) -> None:
        self.broker.close()


def _middleware() -> list[Middleware]:
    # Dramatiq's defaults minus Callbacks/Pipelines (unused), plus CurrentMessage for ``current_try``.
    # No Prometheus middleware: it would open its own HTTP port; Haven exports its own metrics.
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Retries(max_retries=5), CurrentMessage()]


class JobWorker:
    """Dramatiq's worker threads for one queue, plus the periodic-job scheduler thread."""

    def __init__(self, queue: JobQueue, *, threads: int, schedule: bool) -> None:
        self.queue = queue
        self.worker = dramatiq.Worker(
            queue.broker, queues={queue.queue_name}, worker_threads=threads, worker_timeout=250
        )
        self.id = uuid.uuid4().hex[:8]
        self._stop = threading.Event()
        self._scheduler = (
            threading.Thread(target=self._schedule, name="haven-jobs-schedule", daemon=True)
            if schedule and queue._periodic
            else None
        )

    def start(self) -> Self:
        self.worker.start()
        if self._scheduler is not None:
            self._scheduler.start()
        log.info(
            "job worker %s started (%s broker, queue %s)", self.id, self.queue.backend, self.queue.queue_name
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the jobs in hand (up to ``timeout``), give back the prefetched ones, stop."""
        self._stop.set()
        self.worker.stop(timeout=int(timeout * 1000))
        if self._scheduler is not None:
            self._scheduler.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _schedule(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.queue.run_due()
            except Exception:
                log.exception("periodic job scheduling failed; trying again")
