"""The dead-letter list: every job that failed all its tries, with its error, in Haven's database.

Recorded by a Dramatiq middleware just before the broker rejects the message, so the list looks the same
whichever broker runs the queue (RabbitMQ and Redis also keep their own ``.XQ`` copies for a week).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dramatiq.broker import Broker
from dramatiq.common import current_millis, q_name
from dramatiq.middleware import Middleware
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from haven.jobs.models import DeadLetter as DeadLetterRow
from haven.store.db import make_session_factory

log = logging.getLogger("haven.jobs")
MAX_ERROR_CHARS = 8000


@dataclass(frozen=True)
class DeadLetter:
    """A job that will not run again unless someone retries it (``JobQueue.retry_dead``)."""

    id: int
    message_id: str
    job: str
    args: list[Any]
    kwargs: dict[str, Any]
    tries: int
    error: str
    failed_at_ms: int
    retried_at_ms: int | None

    @property
    def last_error_line(self) -> str:
        lines = [ln for ln in self.error.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "job": self.job,
            "args": self.args,
            "kwargs": self.kwargs,
            "tries": self.tries,
            "error": self.last_error_line,
            "traceback": self.error,
            "failed_at_ms": self.failed_at_ms,
            "retried_at_ms": self.retried_at_ms,
        }


def to_dead_letter(row: DeadLetterRow) -> DeadLetter:
    args, kwargs = json.loads(row.args)
    return DeadLetter(
        row.id, row.message_id, row.job, args, kwargs, row.tries, row.error, row.failed_at, row.retried_at
    )


class DeadLetterRecorder(Middleware):
    """Writes a failed message to ``job_dead_letters`` before the broker rejects it, then calls the
    job's ``on_dead`` hook (an action marks its run dead there)."""

    def __init__(self, engine: Engine, hooks: dict[str, Callable[[DeadLetter], None]]) -> None:
        self.sessions = make_session_factory(engine)
        self.hooks = hooks

    def before_nack(self, broker: Broker, message: Any) -> None:
        exc = getattr(message, "_exception", None)
        error = message.options.get("traceback") or (f"{exc.__class__.__name__}: {exc}" if exc else "failed")
        row = DeadLetterRow(
            message_id=message.message_id,
            queue=q_name(message.queue_name),
            job=message.actor_name,
            args=json.dumps([list(message.args), dict(message.kwargs)]),
            tries=int(message.options.get("retries", 0)) or 1,
            error=str(error)[-MAX_ERROR_CHARS:],
            failed_at=current_millis(),
        )
        with self.sessions() as s:
            try:
                s.add(row)
                s.commit()
            except SAIntegrityError:  # delivered again after a crash between this and the nack
                s.rollback()
                existing = s.scalars(
                    select(DeadLetterRow).where(DeadLetterRow.message_id == message.message_id)
                )
                row = existing.one()
        hook = self.hooks.get(message.actor_name)
        if hook is not None:
            try:
                hook(to_dead_letter(row))
            except Exception:
                log.exception("on_dead hook of %s failed", message.actor_name)
