"""Feedback sent back: a bank feedback decision on an entry an exchange keeps becomes that exchange's own
feedback call (NCMEC fingerprint feedback, StopNCII ``SubmitFeedback``, ThreatExchange reactions).

``collect`` reads the bank change log (every feedback write logs ``feedback <opinion>`` for its entry, from
the CLI, the API or the review console alike) after each exchange's cursor, and queues one outbox row per
(item, change) in the same transaction that moves the cursor: nothing is queued twice or lost. ``send``
delivers pending rows through the exchange's client under Haven's retry policy; a rejection (4xx) is
recorded as ``failed`` and not tried again, a network error or 5xx leaves the row ``pending`` for the next
round until ``max_tries``; types without a feedback call record ``unsupported``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, select, update

from haven.banks.models import ChangeRow
from haven.errors import HavenError, RemoteRejectedError
from haven.exchanges.clients import ClientSettings, make_client
from haven.exchanges.store import ENTRIES, EXCHANGES, FEEDBACK, ITEMS, ExchangeStore
from haven.exchanges.types import OPINION_OF_FEEDBACK, ExchangeClient, FeedbackTarget

CHANGES = ChangeRow.__table__
MAX_TRIES = 8


def collect(store: ExchangeStore) -> int:
    """Queue the feedback written since each exchange's cursor; returns how many rows were queued."""
    queued = 0
    with store.engine.begin() as conn:
        exchanges = conn.execute(select(EXCHANGES.c.id, EXCHANGES.c.bank_id, EXCHANGES.c.feedback_seq)).all()
        if not exchanges:
            return 0
        low = min(int(e.feedback_seq) for e in exchanges)
        rows = conn.execute(
            select(CHANGES.c.seq, CHANGES.c.bank_id, CHANGES.c.lo, CHANGES.c.actor)
            .where(CHANGES.c.seq > low, CHANGES.c.op == "sync", CHANGES.c.detail.like("feedback %"))
            .order_by(CHANGES.c.seq)
            .limit(10_000)
        ).all()
        top = int(conn.execute(select(CHANGES.c.seq).order_by(CHANGES.c.seq.desc()).limit(1)).scalar() or low)
        if rows and len(rows) == 10_000:
            top = int(rows[-1].seq)
        for ex in exchanges:
            mine = [
                r for r in rows if r.seq > ex.feedback_seq and r.bank_id == ex.bank_id and r.lo is not None
            ]
            for r in mine:
                entry = conn.execute(
                    select(ENTRIES.c.feedback, ENTRIES.c.feedback_by).where(ENTRIES.c.id == r.lo)
                ).first()
                if entry is None or entry.feedback not in OPINION_OF_FEEDBACK:
                    continue
                # Feedback an exchange wrote itself (none today) is never echoed back.
                if (entry.feedback_by or "").startswith("exchange:"):
                    continue
                items = conn.execute(
                    select(ITEMS.c.id).where(
                        ITEMS.c.exchange_id == ex.id, ITEMS.c.entry_id == r.lo, ITEMS.c.deleted.is_(False)
                    )
                ).all()
                for (item_id,) in items:
                    conn.execute(
                        insert(FEEDBACK).values(
                            exchange_id=ex.id,
                            item_id=item_id,
                            change_seq=r.seq,
                            opinion=entry.feedback,
                            actor=entry.feedback_by,
                            status="pending",
                            tries=0,
                            created_at=datetime.now(UTC),
                        )
                    )
                    queued += 1
            conn.execute(
                update(EXCHANGES)
                .where(EXCHANGES.c.id == ex.id, EXCHANGES.c.feedback_seq < top)
                .values(feedback_seq=top)
            )
    return queued


def send(
    store: ExchangeStore,
    *,
    settings: ClientSettings | None = None,
    exchange: str | None = None,
    clients: dict[str, ExchangeClient] | None = None,
    limit: int = 500,
) -> dict[str, int]:
    """Deliver pending feedback (of one exchange, or all); returns counts by outcome."""
    q = (
        select(
            FEEDBACK,
            ITEMS.c.upstream_id,
            ITEMS.c.signal,
            ITEMS.c.value,
            ITEMS.c.member,
            ITEMS.c.extra,
            EXCHANGES.c.name,
        )
        .join(ITEMS, ITEMS.c.id == FEEDBACK.c.item_id)
        .join(EXCHANGES, EXCHANGES.c.id == FEEDBACK.c.exchange_id)
        .where(FEEDBACK.c.status == "pending")
        .order_by(FEEDBACK.c.id)
        .limit(limit)
    )
    if exchange is not None:
        q = q.where(EXCHANGES.c.name == exchange)
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    counts: dict[str, int] = {}
    opened: dict[str, ExchangeClient] = {}
    given = clients or {}
    try:
        for r in rows:
            client = given.get(r.name) or opened.get(r.name)
            if client is None:
                client = opened[r.name] = make_client(store.get(r.name), store.credentials(r.name), settings)
            status, error = _deliver(client, r)
            values: dict[str, Any] = {"status": status, "tries": FEEDBACK.c.tries + 1, "result": error}
            if status == "sent":
                values["sent_at"] = datetime.now(UTC)
            if status == "pending" and r.tries + 1 >= MAX_TRIES:
                values["status"] = "failed"
            with store.engine.begin() as conn:
                conn.execute(
                    update(FEEDBACK)
                    .where(and_(FEEDBACK.c.id == r.id, FEEDBACK.c.status == "pending"))
                    .values(**values)
                )
            counts[values["status"]] = counts.get(values["status"], 0) + 1
    finally:
        for c in opened.values():
            c.close()
    return counts


def _deliver(client: ExchangeClient, r: Any) -> tuple[str, str | None]:
    """``(status, the upstream's answer or the error)`` for one outbox row."""
    if not client.supports_feedback:
        return "unsupported", f"{client.type} exchanges take no feedback"
    target = FeedbackTarget(
        upstream_id=r.upstream_id,
        signal=r.signal,
        value=r.value,
        member=r.member,
        extra=json.loads(r.extra) if r.extra else {},
    )
    try:
        answer = client.send_feedback(target, OPINION_OF_FEEDBACK[r.opinion])
    except NotImplementedError as exc:
        return "unsupported", str(exc)
    except RemoteRejectedError as exc:
        return "failed", exc.message  # a 4xx: sending it again would get the same answer
    except HavenError as exc:
        return "pending", exc.message  # network errors and 5xx past the policy's tries: next round
    return "sent", answer
