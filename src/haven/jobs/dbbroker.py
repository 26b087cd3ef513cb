"""A Dramatiq broker over Haven's own database (SQLite or PostgreSQL): the queue that needs no server.

Dramatiq ships brokers for RabbitMQ and Redis only. The third-party ones for a database either lose a job
whose worker dies (``dramatiq-sqlite`` marks a message consumed with no lease, so nothing ever gives it
back) or need PostgreSQL (``dramatiq-pg``). This one keeps Dramatiq's contract (``consume``/``ack``/
``nack``/``requeue``, delay queues) with *leases*:

- a consumer claims a message by setting ``lease_owner`` and ``lease_until`` atomically
  (``haven.store.claim``: ``SELECT … FOR UPDATE SKIP LOCKED`` then ``UPDATE`` on PostgreSQL, one
  ``UPDATE … WHERE id IN (SELECT …)`` under SQLite's single writer);
- while a message is held, a heartbeat pushes its lease forward, so a long job is not handed out twice;
- ``ack`` and ``nack`` delete it (a dead letter was recorded before ``nack``, see ``haven.jobs.deadletters``);
- if the worker is killed (``kill -9``, power loss), its heartbeats stop, the lease runs out, and the
  message is claimed again by the next consumer: at-least-once delivery, never a lost job.

Delayed messages (retries with backoff) are stored with ``available_at`` in the future, so they are not
claimed, and held in a worker's memory, until they are due.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any, cast

from dramatiq.broker import Broker, Consumer, MessageProxy
from dramatiq.common import current_millis, dq_name
from dramatiq.errors import QueueNotFound
from dramatiq.message import Message
from dramatiq.middleware import Middleware
from sqlalchemy import Connection, Engine, Table, and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from haven.jobs.models import JobMessage
from haven.store.claim import claim
from haven.store.db import make_session_factory

log = logging.getLogger("haven.jobs")

#: How long a claimed message stays invisible to other consumers without a heartbeat.
DEFAULT_LEASE_SECONDS = 60.0
#: How often an idle consumer looks for work (an enqueue in the same process wakes it at once).
DEFAULT_POLL_SECONDS = 0.25


class DatabaseBroker(Broker):
    """Dramatiq broker whose queues are rows of ``job_messages`` in Haven's database."""

    def __init__(
        self,
        engine: Engine,
        *,
        middleware: list[Middleware] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        super().__init__(middleware=middleware)
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.lease_ms = int(lease_seconds * 1000)
        self.poll_seconds = poll_seconds
        self.queues: dict[str, bool] = {}
        self.wakeup = threading.Condition()
        self._insert = insert(cast(Table, JobMessage.__table__))

    # -- Broker ----------------------------------------------------------------------------------------
    def declare_queue(self, queue_name: str) -> None:
        if queue_name in self.queues:
            return
        self.emit_before("declare_queue", queue_name)
        self.queues[queue_name] = True
        self.emit_after("declare_queue", queue_name)
        delayed = dq_name(queue_name)
        self.queues[delayed] = True
        self.delay_queues.add(delayed)
        self.emit_after("declare_delay_queue", delayed)

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        queue_name = message.queue_name
        available = current_millis()
        if delay is not None:
            queue_name = dq_name(queue_name)
            available += delay
            message = message.copy(queue_name=queue_name, options={"eta": available})
        if queue_name not in self.queues:
            raise QueueNotFound(queue_name)  # type: ignore[no-untyped-call]
        self.emit_before("enqueue", message, delay)
        with self.sessions() as s:
            self.add_to(s, message, available)
            s.commit()
        self.wake()
        self.emit_after("enqueue", message, delay)
        return message

    def add_to(self, s: Session | Connection, message: Message[Any], available: int | None = None) -> None:
        """Add ``message`` to the caller's transaction: it is queued if, and when, that commits (a
        transactional outbox: the job exists exactly when the change that asked for it does)."""
        self.add_all_to(s, [message], available)

    def add_all_to(
        self, s: Session | Connection, messages: list[Message[Any]], available: int | None = None
    ) -> None:
        """``add_to`` for several messages, in one insert statement."""
        for message in messages:
            if message.queue_name not in self.queues:
                raise QueueNotFound(message.queue_name)  # type: ignore[no-untyped-call]
        now = current_millis()
        conn = s.connection() if isinstance(s, Session) else s
        conn.execute(
            self._insert,
            [
                {
                    "queue": message.queue_name,
                    "message_id": message.message_id,
                    "body": message.encode().decode("utf-8"),
                    "priority": 0,
                    "enqueued_at": now,
                    "available_at": available if available is not None else now,
                    "deliveries": 0,
                }
                for message in messages
            ],
        )

    def wake(self) -> None:
        """Wake this process's idle consumers (after a commit that queued work)."""
        with self.wakeup:
            self.wakeup.notify_all()

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> Consumer:
        if queue_name not in self.queues:
            raise QueueNotFound(queue_name)  # type: ignore[no-untyped-call]
        return DatabaseConsumer(self, queue_name, prefetch, timeout)

    def flush(self, queue_name: str) -> None:
        with self.sessions() as s:
            s.execute(delete(JobMessage).where(JobMessage.queue.in_([queue_name, dq_name(queue_name)])))
            s.commit()

    def flush_all(self) -> None:
        for q in list(self.queues):
            self.flush(q)

    def join(self, queue_name: str, *, timeout: int | None = None) -> None:
        """Wait until the queue and its delay queue are empty (tests and benchmarks)."""
        deadline = time.monotonic() + timeout / 1000 if timeout else None
        while self.pending(queue_name):
            if deadline is not None and time.monotonic() > deadline:
                from dramatiq.errors import QueueJoinTimeout

                raise QueueJoinTimeout(queue_name)  # type: ignore[no-untyped-call]
            time.sleep(0.05)

    def pending(self, queue_name: str) -> int:
        """Messages not yet acknowledged, in the queue and its delay queue (held ones included)."""
        from sqlalchemy import func

        with self.sessions() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(JobMessage)
                    .where(JobMessage.queue.in_([queue_name, dq_name(queue_name)]))
                )
                or 0
            )


class DatabaseConsumer(Consumer):
    """Claims messages of one queue under leases it keeps alive while it holds them."""

    def __init__(self, broker: DatabaseBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.prefetch = max(1, prefetch)
        self.timeout = timeout / 1000
        self.owner = uuid.uuid4().hex
        self.held: dict[str, int] = {}  # message id → row id
        self.buffer: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()
        self._postgres = broker.engine.dialect.name == "postgresql"

    def __next__(self) -> MessageProxy | None:
        self._heartbeat()
        if not self.buffer:
            room = self.prefetch - len(self.held)
            if room > 0:
                self.buffer = self._claim(room)
            if not self.buffer:
                with self.broker.wakeup:
                    self.broker.wakeup.wait(min(self.timeout, self.broker.poll_seconds))
                return None
        row_id, body = self.buffer.pop(0)
        message = Message.decode(body.encode("utf-8"))
        with self._lock:
            self.held[message.message_id] = row_id
        return MessageProxy(message)

    def _claim(self, n: int) -> list[tuple[int, str]]:
        now = current_millis()
        due = and_(
            JobMessage.queue == self.queue_name,
            JobMessage.available_at <= now,
            or_(JobMessage.lease_until.is_(None), JobMessage.lease_until < now),
        )
        pick = select(JobMessage.id).where(due).order_by(JobMessage.priority, JobMessage.id).limit(n)
        with self.broker.sessions() as s:
            ids = claim(
                s,
                JobMessage,
                pick,
                due,
                {
                    "lease_owner": self.owner,
                    "lease_until": now + self.broker.lease_ms,
                    "deliveries": JobMessage.deliveries + 1,
                },
                postgres=self._postgres,
            )
            rows = (
                s.execute(
                    select(JobMessage.id, JobMessage.body, JobMessage.deliveries).where(
                        JobMessage.id.in_(ids)
                    )
                ).all()
                if ids
                else []
            )
            s.commit()
        for row_id, _, deliveries in rows:
            if deliveries > 1:
                log.warning(
                    "job message %s delivered again (try %d): its earlier lease ran out", row_id, deliveries
                )
        return sorted((r[0], r[1]) for r in rows)

    def _heartbeat(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_beat < self.broker.lease_ms / 4000:
            return
        self._last_beat = time.monotonic()
        with self._lock:
            ids = list(self.held.values()) + [r for r, _ in self.buffer]
        if not ids:
            return
        with self.broker.sessions() as s:
            s.execute(
                update(JobMessage)
                .where(JobMessage.id.in_(ids), JobMessage.lease_owner == self.owner)
                .values(lease_until=current_millis() + self.broker.lease_ms)
            )
            s.commit()

    def _finish(self, message: Any) -> None:
        with self._lock:
            row_id = self.held.pop(message.message_id, None)
        if row_id is None:
            return
        with self.broker.sessions() as s:
            # Only our own claim: if our lease ran out and another worker took the message, it is theirs now.
            s.execute(delete(JobMessage).where(JobMessage.id == row_id, JobMessage.lease_owner == self.owner))
            s.commit()
        # A slot of the prefetch is free: wake the consumer, which waits while it holds its fill (else every
        # fill of a busy worker costs a poll interval, and a backlog drains at prefetch ÷ interval jobs/s).
        self.broker.wake()

    def ack(self, message: Any) -> None:
        self._finish(message)

    def nack(self, message: Any) -> None:
        self._finish(message)

    def requeue(self, messages: Iterable[Any]) -> None:
        """Give unprocessed messages back at once (a clean shutdown), instead of waiting for the lease."""
        with self._lock:
            ids = [self.held.pop(m.message_id) for m in messages if m.message_id in self.held]
            ids += [r for r, _ in self.buffer]
            self.buffer = []
        if ids:
            with self.broker.sessions() as s:
                _release(s, ids, self.owner)
                s.commit()

    def close(self) -> None:
        self.requeue([])


def _release(s: Session, ids: list[int], owner: str) -> None:
    s.execute(
        update(JobMessage)
        .where(JobMessage.id.in_(ids), JobMessage.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
