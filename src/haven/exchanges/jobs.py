"""Exchanges on the job queue: a periodic ``exchange.tick`` enqueues an ``exchange.fetch`` for each due
exchange (its interval has passed, or its last fetch stopped halfway) and, after collecting new bank feedback
into the outbox, an ``exchange.feedback`` send. Fetches resume from their checkpoint, so a job retried after
a crash or a failure applies nothing twice; a second fetch of the same exchange at the same time fails its
compare-and-set and is not retried."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import update

from haven.banks import BankStore
from haven.errors import AuthError, ConflictError, NotFoundError, UsageError
from haven.exchanges import feedback
from haven.exchanges.fetch import due, fetch
from haven.exchanges.settings import ExchangeSettings
from haven.exchanges.store import EXCHANGES, ExchangeStore
from haven.jobs import JobQueue
from haven.secrets import KeyRing

log = logging.getLogger("haven.exchanges")


class ExchangeJobs:
    """The three jobs over one database."""

    def __init__(self, url: str, ring: KeyRing | None, settings: ExchangeSettings, queue: JobQueue) -> None:
        self.url = url
        self.ring = ring
        self.settings = settings
        self.queue = queue

    def _store(self) -> ExchangeStore:
        return ExchangeStore(BankStore(self.url), self.ring)

    def tick(self) -> list[str]:
        """Enqueue the due fetches (stamping them queued, so the next tick does not enqueue them again) and
        a feedback send when anything was queued; returns the exchanges enqueued."""
        store = self._store()
        try:
            names = due(store)
            for name in names:
                with store.engine.begin() as conn:
                    conn.execute(
                        update(EXCHANGES)
                        .where(EXCHANGES.c.name == name)
                        .values(fetch_started_at=datetime.now(UTC), last_status="queued")
                    )
                self.queue.enqueue("exchange.fetch", name)
            if feedback.collect(store) or store.feedback(status="pending"):
                self.queue.enqueue("exchange.feedback")
            return names
        finally:
            store.banks.close()

    def fetch(self, name: str) -> None:
        store = self._store()
        try:
            result = fetch(store, name, settings=self.settings.client)
            log.info(
                "exchange %s: %d pages, %d added, %d removed, %d changed",
                name,
                result.pages,
                result.added,
                result.removed,
                result.changed,
            )
        finally:
            store.banks.close()

    def send_feedback(self) -> None:
        store = self._store()
        try:
            feedback.collect(store)
            feedback.send(store, settings=self.settings.client)
        finally:
            store.banks.close()


def register_jobs(
    queue: JobQueue, url: str, ring: KeyRing | None, settings: ExchangeSettings
) -> ExchangeJobs:
    """Register the exchange jobs on ``queue`` and schedule the tick (unless its interval is 0)."""
    jobs = ExchangeJobs(url, ring, settings, queue)
    queue.register(
        "exchange.fetch",
        jobs.fetch,
        max_retries=3,
        min_backoff=5,
        max_backoff=600,
        time_limit=6 * 3600,
        permanent=(AuthError, ConflictError, NotFoundError, UsageError),
    )
    queue.register("exchange.feedback", jobs.send_feedback, max_retries=3)
    queue.register("exchange.tick", jobs.tick, max_retries=0)
    if settings.tick_seconds > 0:
        queue.every(settings.tick_seconds, "exchange.tick")
    return jobs
