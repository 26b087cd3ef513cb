"""``ExchangeStore``: configured exchanges (type, bank, schedule, options, sealed credentials, checkpoint)
and their items, on the bank store's database.

Credentials are sealed with the master key ring (``haven.secrets``), bound to the exchange's name, the
same way the NCMEC reporting credentials are: the database holds only sealed blobs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from haven.banks import BankStore
from haven.banks.models import BankRow, EntryRow
from haven.banks.types import utc
from haven.errors import AuthError, ConflictError, IntegrityError, NotFoundError, UsageError
from haven.exchanges.models import ExchangeFeedbackRow, ExchangeItemRow, ExchangeRow
from haven.exchanges.types import TYPES, Exchange
from haven.secrets import KeyRing

EXCHANGES = cast(Table, ExchangeRow.__table__)
ITEMS = cast(Table, ExchangeItemRow.__table__)
FEEDBACK = cast(Table, ExchangeFeedbackRow.__table__)
BANKS = cast(Table, BankRow.__table__)
ENTRIES = cast(Table, EntryRow.__table__)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
DEFAULT_INTERVAL = 3600
#: Options each type accepts (``haven exchange add … --option KEY=VALUE`` and the typed flags).
OPTIONS: dict[str, tuple[str, ...]] = {
    "file": ("source",),
    "ncmec": ("environment", "url", "page_size", "lag", "negative_reason", "timeout", "retries"),
    "stopncii": ("url", "page_size", "timeout", "retries"),
    "threatexchange": ("url", "privacy_group", "page_size", "types", "timeout", "retries"),
}
#: Credential fields each type needs.
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "file": (),
    "ncmec": ("username", "password"),
    "stopncii": ("subscription_key", "fetch_function_key", "feedback_function_key"),
    "threatexchange": ("access_token",),
}


def now() -> datetime:
    return datetime.now(UTC)


def _context(name: str) -> bytes:
    return f"exchange-credentials:{name}".encode()


class ExchangeStore:
    """Exchanges and their items on ``banks``' database; ``ring`` seals and opens credentials."""

    def __init__(self, banks: BankStore, ring: KeyRing | None = None) -> None:
        self.banks = banks
        self.engine = banks.engine
        self.ring = ring

    # -- exchanges ---------------------------------------------------------------------------------------

    def _exchange(self, row: Any, bank: str) -> Exchange:
        return Exchange(
            id=row.id,
            name=row.name,
            type=row.type,
            bank=bank,
            enabled=bool(row.enabled),
            interval_seconds=int(row.interval_seconds),
            options=json.loads(row.options or "{}"),
            has_credentials=row.credentials is not None,
            checkpoint=json.loads(row.checkpoint) if row.checkpoint else None,
            pages=int(row.pages),
            applied=int(row.applied),
            fetch_started_at=utc(row.fetch_started_at),
            fetch_finished_at=utc(row.fetch_finished_at),
            last_status=row.last_status,
            last_error=row.last_error,
            created_at=utc(row.created_at),
            created_by=row.created_by,
        )

    def _query(self) -> Any:
        return select(EXCHANGES, BANKS.c.name.label("bank_name")).join(
            BANKS, BANKS.c.id == EXCHANGES.c.bank_id
        )

    def get(self, name: str) -> Exchange:
        with self.engine.connect() as conn:
            row = conn.execute(self._query().where(EXCHANGES.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no exchange named {name!r} (list them: haven exchange list)")
        return self._exchange(row, row.bank_name)

    def exchanges(self) -> list[Exchange]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._query().order_by(EXCHANGES.c.name)).all()
        return [self._exchange(r, r.bank_name) for r in rows]

    def add(
        self,
        name: str,
        type_: str,
        bank: str,
        *,
        options: dict[str, Any] | None = None,
        credentials: dict[str, str] | None = None,
        interval_seconds: int = DEFAULT_INTERVAL,
        create_bank: bool = True,
        actor: str | None = None,
    ) -> Exchange:
        """Configure an exchange feeding ``bank`` (created when missing, unless not ``create_bank``)."""
        if not NAME.match(name or ""):
            raise UsageError(f"bad exchange name {name!r}: use 1-100 letters, digits, '_', '.', '-'")
        if type_ not in TYPES:
            raise UsageError(f"unknown exchange type {type_!r}; use one of {', '.join(TYPES)}")
        opts = dict(options or {})
        unknown = sorted(set(opts) - set(OPTIONS[type_]))
        if unknown:
            raise UsageError(
                f"{type_} exchanges take no option {', '.join(unknown)}; options: {', '.join(OPTIONS[type_])}"
            )
        if type_ == "file" and not opts.get("source"):
            raise UsageError("a file exchange needs --source PATH_OR_URL")
        if interval_seconds < 1:
            raise UsageError(f"--interval must be at least 1 second, got {interval_seconds}")
        creds = {k: v for k, v in (credentials or {}).items() if v}
        missing = [k for k in CREDENTIALS[type_] if k not in creds and k != "feedback_function_key"]
        if missing:
            raise UsageError(f"a {type_} exchange needs credentials: {', '.join(missing)}")
        try:
            self.banks.get_bank(bank)
        except NotFoundError:
            if not create_bank:
                raise
            self.banks.create_bank(bank, source=f"exchange:{name}", actor=actor)
        sealed = self._seal(name, creds) if creds else None
        try:
            with self.engine.begin() as conn:
                bank_id = conn.execute(select(BANKS.c.id).where(BANKS.c.name == bank)).scalar_one()
                conn.execute(
                    insert(EXCHANGES).values(
                        name=name,
                        type=type_,
                        bank_id=bank_id,
                        enabled=True,
                        interval_seconds=interval_seconds,
                        options=json.dumps(opts, sort_keys=True),
                        credentials=sealed,
                        checkpoint=None,
                        pages=0,
                        applied=0,
                        feedback_seq=self.banks.last_seq(),
                        created_at=now(),
                        created_by=actor,
                    )
                )
        except SAIntegrityError:
            raise ConflictError(f"an exchange named {name!r} already exists") from None
        return self.get(name)

    def set_enabled(self, name: str, enabled: bool) -> Exchange:
        self._update(name, enabled=enabled)
        return self.get(name)

    def set_credentials(self, name: str, credentials: dict[str, str]) -> None:
        self.get(name)
        self._update(name, credentials=self._seal(name, credentials))

    def remove(self, name: str, *, purge: bool = False, actor: str | None = None) -> int:
        """Delete an exchange with its items and feedback; with ``purge`` also the bank entries only it kept.
        Returns how many bank entries were removed."""
        ex = self.get(name)
        removed = 0
        if purge:
            from haven.exchanges.apply import release_entries

            with self.engine.begin() as conn:
                ids = [
                    r[0]
                    for r in conn.execute(
                        select(ITEMS.c.entry_id).where(
                            ITEMS.c.exchange_id == ex.id,
                            ITEMS.c.deleted.is_(False),
                            ITEMS.c.entry_id.is_not(None),
                        )
                    )
                ]
                conn.execute(update(ITEMS).where(ITEMS.c.exchange_id == ex.id).values(deleted=True))
                bank_id = conn.execute(
                    select(EXCHANGES.c.bank_id).where(EXCHANGES.c.id == ex.id)
                ).scalar_one()
                removed = release_entries(self.banks, conn, bank_id, ids, actor=actor or f"exchange:{name}")
        with self.engine.begin() as conn:
            conn.execute(delete(FEEDBACK).where(FEEDBACK.c.exchange_id == ex.id))
            conn.execute(delete(ITEMS).where(ITEMS.c.exchange_id == ex.id))
            conn.execute(delete(EXCHANGES).where(EXCHANGES.c.id == ex.id))
        return removed

    def reset(self, name: str) -> None:
        """Forget the checkpoint: the next fetch starts from the beginning (items and entries stay)."""
        self._update(name, checkpoint=None)

    def _update(self, name: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            n = conn.execute(update(EXCHANGES).where(EXCHANGES.c.name == name).values(**values)).rowcount
        if n != 1:
            raise NotFoundError(f"no exchange named {name!r}")

    # -- credentials -------------------------------------------------------------------------------------

    def _seal(self, name: str, creds: dict[str, str]) -> bytes:
        if self.ring is None:
            raise UsageError(
                "exchange credentials are sealed with the master key ring: run `haven secrets "
                "init` (or set HAVEN_MASTER_KEY / HAVEN_MASTER_KEY_FILE)"
            )
        return self.ring.seal(json.dumps(creds, sort_keys=True).encode(), context=_context(name))

    def credentials(self, name: str) -> dict[str, str]:
        """The exchange's credentials, opened with the ring (``{}`` when it has none)."""
        with self.engine.connect() as conn:
            blob = conn.execute(select(EXCHANGES.c.credentials).where(EXCHANGES.c.name == name)).scalar()
        if blob is None:
            return {}
        if self.ring is None:
            raise AuthError(
                f"exchange {name!r}: its credentials are sealed and no master key ring is set "
                "(HAVEN_MASTER_KEY / HAVEN_MASTER_KEY_FILE)"
            )
        try:
            return cast(dict[str, str], json.loads(self.ring.open(blob, context=_context(name))))
        except IntegrityError as exc:
            raise AuthError(
                f"exchange {name!r}: stored credentials cannot be opened with this master key "
                f"ring ({self.ring.source}): {exc.message}"
            ) from None

    def usage(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        if self.ring is None:
            return counts
        with self.engine.connect() as conn:
            for (blob,) in conn.execute(
                select(EXCHANGES.c.credentials).where(EXCHANGES.c.credentials.is_not(None))
            ):
                kid = self.ring.sealed_with(blob)
                counts[kid] = counts.get(kid, 0) + 1
        return counts

    def reseal(self) -> int:
        assert self.ring is not None
        changed = 0
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(EXCHANGES.c.id, EXCHANGES.c.name, EXCHANGES.c.credentials).where(
                    EXCHANGES.c.credentials.is_not(None)
                )
            ).all()
            for r in rows:
                blob = self.ring.reseal(r.credentials, context=_context(r.name))
                if bytes(blob) != bytes(r.credentials):
                    conn.execute(update(EXCHANGES).where(EXCHANGES.c.id == r.id).values(credentials=blob))
                    changed += 1
        return changed

    # -- items and feedback ------------------------------------------------------------------------------

    def counts(self, name: str) -> dict[str, int]:
        """Live and tombstoned items, and feedback by status."""
        ex = self.get(name)
        with self.engine.connect() as conn:
            live = conn.execute(
                select(func.count()).where(ITEMS.c.exchange_id == ex.id, ITEMS.c.deleted.is_(False))
            ).scalar_one()
            dead = conn.execute(
                select(func.count()).where(ITEMS.c.exchange_id == ex.id, ITEMS.c.deleted.is_(True))
            ).scalar_one()
            fb: dict[str, int] = dict(
                conn.execute(
                    select(FEEDBACK.c.status, func.count())
                    .where(FEEDBACK.c.exchange_id == ex.id)
                    .group_by(FEEDBACK.c.status)
                ).all()
            )
        out = {"items": int(live), "tombstones": int(dead)}
        out.update({f"feedback_{k}": int(v) for k, v in fb.items()})
        return out

    def items(
        self, name: str, *, include_deleted: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The exchange's items (provenance of each entry), oldest first."""
        ex = self.get(name)
        q = select(ITEMS).where(ITEMS.c.exchange_id == ex.id).order_by(ITEMS.c.id)
        if not include_deleted:
            q = q.where(ITEMS.c.deleted.is_(False))
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [_item(r) for r in rows]

    def provenance(self, entry_id: int) -> list[dict[str, Any]]:
        """Where a bank entry came from: the live exchange items that keep it, with their exchange."""
        q = (
            select(ITEMS, EXCHANGES.c.name.label("exchange"))
            .join(EXCHANGES, EXCHANGES.c.id == ITEMS.c.exchange_id)
            .where(ITEMS.c.entry_id == entry_id, ITEMS.c.deleted.is_(False))
        )
        with self.engine.connect() as conn:
            return [{"exchange": r.exchange, **_item(r)} for r in conn.execute(q)]

    def feedback(self, name: str | None = None, *, status: str | None = None) -> list[dict[str, Any]]:
        q = (
            select(
                FEEDBACK,
                EXCHANGES.c.name.label("exchange"),
                ITEMS.c.upstream_id,
                ITEMS.c.signal,
                ITEMS.c.value,
                ITEMS.c.entry_id,
            )
            .join(EXCHANGES, EXCHANGES.c.id == FEEDBACK.c.exchange_id)
            .join(ITEMS, ITEMS.c.id == FEEDBACK.c.item_id)
            .order_by(FEEDBACK.c.id)
        )
        if name is not None:
            q = q.where(EXCHANGES.c.name == name)
        if status is not None:
            q = q.where(FEEDBACK.c.status == status)
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "exchange": r.exchange,
                    "entry_id": r.entry_id,
                    "upstream_id": r.upstream_id,
                    "signal": r.signal,
                    "value": r.value,
                    "opinion": r.opinion,
                    "actor": r.actor,
                    "status": r.status,
                    "tries": r.tries,
                    "result": r.result,
                    "created_at": _iso(r.created_at),
                    "sent_at": _iso(r.sent_at),
                }
                for r in conn.execute(q)
            ]


def _iso(ts: datetime | None) -> str | None:
    t = utc(ts)
    return t.isoformat() if t is not None else None


def _item(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "upstream_id": r.upstream_id,
        "signal": r.signal,
        "value": r.value,
        "entry_id": r.entry_id,
        "deleted": bool(r.deleted),
        "member": r.member,
        "classification": r.classification,
        "status": r.status,
        "upstream_at": _iso(r.upstream_at),
        "upstream_feedback": json.loads(r.upstream_feedback) if r.upstream_feedback else None,
        "extra": json.loads(r.extra) if r.extra else None,
        "updated_at": _iso(r.updated_at),
    }
