"""Run one exchange's fetch: pages from its client, each applied with its checkpoint in one transaction.

Crash points (``haven.faults``) for the exactly-once tests: ``exchange_page_applied`` (inside the page's
transaction, before it commits: the page is rolled back and fetched again) and ``exchange_page_committed``
(after the commit, before the next page: the fetch resumes after it).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from sqlalchemy import select, text, update

from haven.banks.existing import BankValues
from haven.errors import ConflictError
from haven.exchanges.apply import apply_page
from haven.exchanges.clients import ClientSettings, make_client
from haven.exchanges.store import EXCHANGES, ITEMS, ExchangeStore
from haven.exchanges.types import ExchangeClient, FetchResult, Page
from haven.faults import FAULTS

_END = object()


def prefetched(pages: Iterator[Page], depth: int = 2) -> Iterator[Page]:
    """``pages`` read ``depth`` ahead in a thread, so the next page downloads and parses while this one is
    applied. Only reading runs ahead: pages are still applied, and their checkpoints committed, in order."""
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        box.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            box.put(exc)

    thread = threading.Thread(target=run, name="exchange-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


def _stamp(store: ExchangeStore, exchange_id: int, **values: object) -> None:
    try:
        with store.engine.begin() as conn:
            conn.execute(update(EXCHANGES).where(EXCHANGES.c.id == exchange_id).values(**values))
    except Exception:  # noqa: BLE001 - best effort: the database may be what failed
        pass


def fetch(
    store: ExchangeStore,
    name: str,
    *,
    client: ExchangeClient | None = None,
    settings: ClientSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_page: Callable[[FetchResult], None] | None = None,
) -> FetchResult:
    """Fetch ``name`` from its checkpoint to the upstream's present (see the module docstring)."""
    ex = store.get(name)
    own = client is None
    client = client or make_client(ex, store.credentials(name), settings)
    result = FetchResult(exchange=name)
    checkpoint = ex.checkpoint
    result.resumed = bool(checkpoint and checkpoint.get("partial"))
    started = time.perf_counter()
    with store.engine.connect() as conn:
        bank_id = int(conn.execute(select(EXCHANGES.c.bank_id).where(EXCHANGES.c.id == ex.id)).scalar_one())
    held = BankValues(bank_id)
    with store.engine.connect() as conn:
        first_load = (
            conn.execute(select(ITEMS.c.id).where(ITEMS.c.exchange_id == ex.id).limit(1)).first() is None
        )
    seen: set[str] | None = set() if first_load else None
    pages_done = ex.pages
    _stamp(store, ex.id, fetch_started_at=datetime.now(UTC), last_status="running", last_error=None)
    try:
        for page in prefetched(client.pages(checkpoint)):
            if should_stop is not None and should_stop():
                raise KeyboardInterrupt
            result.errors += len(page.problems)
            for msg in page.problems[: max(0, 50 - len(result.messages))]:
                result.messages.append(msg)
            cp = dict(page.checkpoint)
            if not page.last:
                cp["partial"] = True
            with store.engine.begin() as conn:
                # Compare-and-set on the page count: a second process fetching the same exchange fails here
                # and rolls back instead of applying the page twice.
                moved = conn.execute(
                    update(EXCHANGES)
                    .where(EXCHANGES.c.id == ex.id, EXCHANGES.c.pages == pages_done)
                    .values(
                        checkpoint=json.dumps(cp, sort_keys=True),
                        pages=pages_done + 1,
                        applied=EXCHANGES.c.applied + len(page.updates),
                    )
                ).rowcount
                if moved != 1:
                    raise ConflictError(f"exchange {name!r} is being fetched by another process")
                apply_page(
                    store.banks,
                    conn,
                    exchange_id=ex.id,
                    exchange=name,
                    bank_id=bank_id,
                    page=page,
                    held=held,
                    result=result,
                    seen=seen,
                )
                FAULTS.reach("exchange_page_applied")
            FAULTS.reach("exchange_page_committed")
            pages_done += 1
            result.pages += 1
            if on_page is not None:
                on_page(result)
        result.unchanged = ex.type == "file" and result.pages == 0
        if store.engine.dialect.name == "postgresql" and result.added > 10_000:
            # Fresh planner statistics after a big load: later look-ups by upstream id use the index.
            with store.engine.begin() as conn:
                conn.execute(text("ANALYZE exchange_items"))
        result.seconds = time.perf_counter() - started
        _stamp(store, ex.id, fetch_finished_at=datetime.now(UTC), last_status="ok", last_error=None)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        message = getattr(exc, "message", None) or f"{exc.__class__.__name__}: {exc}"
        if not isinstance(exc, ConflictError):
            _stamp(store, ex.id, fetch_finished_at=datetime.now(UTC), last_status=status, last_error=message)
        raise
    finally:
        if own:
            client.close()
    return result


def due(store: ExchangeStore, now: datetime | None = None) -> list[str]:
    """The enabled exchanges whose interval has passed since their last fetch started (or never fetched),
    and those whose last fetch stopped halfway (after a short pause)."""
    now = now or datetime.now(UTC)
    out = []
    for ex in store.exchanges():
        if not ex.enabled:
            continue
        last = ex.fetch_started_at
        # A fetch that stopped halfway is resumed at once; one queued or running is left alone (a crashed
        # process's "running" gives way to the interval below).
        # A failing upstream is tried again after min(interval, 5 min), not at every tick.
        stopped = ex.last_status in ("failed", "interrupted") and (
            ex.fetch_finished_at is None
            or (now - ex.fetch_finished_at).total_seconds() >= min(ex.interval_seconds, 300)
        )
        partial = bool(ex.checkpoint and ex.checkpoint.get("partial")) and stopped
        if last is None or partial or (now - last).total_seconds() >= ex.interval_seconds:
            out.append(ex.name)
    return out
