"""``Vault``: preserve content and its context encrypted, keep it as long as the law asks, purge it provably,
and record every access in the audit log (the chain of custody).

Retention follows 18 U.S.C. 2258A(h) as amended by the REPORT Act (2024): reported content and its context
are kept one year (``retention``, configurable) from the report — from the quarantine until a report is
linked. A legal hold stops the clock (the time left is kept and given back on release); an extension moves
the date later and is recorded with its reason. ``purge_due`` (a scheduled job) deletes the blobs and
destroys the item's data key — so any backup copy of the blobs is unreadable too — and records what was
purged (id, hashes, size, dates), never the content.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from haven.audit import AuditLog
from haven.errors import (
    ConflictError,
    FileAccessError,
    IntegrityError,
    NotFoundError,
    UsageError,
)
from haven.evidence import crypto
from haven.evidence.models import VaultItem
from haven.evidence.storage import BlobStore
from haven.secrets import KeyRing
from haven.store.db import make_session_factory, storage_errors

DEFAULT_RETENTION = timedelta(days=365)


_db_errors = storage_errors("vault")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _iso(value: datetime | None) -> str | None:
    v = _aware(value)
    return v.astimezone(UTC).isoformat() if v is not None else None


@dataclass(frozen=True)
class ItemInfo:
    """An item's metadata (never its content)."""

    id: int
    state: str
    name: str
    media_type: str
    size: int
    sha256: str
    md5: str
    created_at: str
    created_by: str
    report_id: int | None
    reported_at: str | None
    retain_until: str
    hold: bool
    hold_reason: str | None
    hold_by: str | None
    extensions: int
    key_id: str | None
    purged_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Vault:
    """The evidence vault over one database, one blob store and the master key ring."""

    def __init__(
        self,
        engine: Engine,
        ring: KeyRing,
        store: BlobStore,
        audit: AuditLog,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.ring = ring
        self.store = store
        self.audit = audit
        self.retention = retention
        self.now = clock or (lambda: datetime.now(UTC))

    # -- facts the blobs and the MAC are bound to -------------------------------------------------------
    @staticmethod
    def _facts(row: VaultItem) -> dict[str, Any]:
        return {
            "name": row.name,
            "media_type": row.media_type,
            "size": row.size,
            "sha256": row.sha256,
            "md5": row.md5,
            "created_at": _iso(row.created_at),
            "created_by": row.created_by,
            "source_key": row.source_key,
        }

    @staticmethod
    def _mac_fields(row: VaultItem) -> dict[str, Any]:
        return {
            "id": row.id,
            "uid": row.uid,
            "state": row.state,
            "report_id": row.report_id,
            "reported_at": _iso(row.reported_at),
            "retain_until": _iso(row.retain_until),
            "hold": row.hold,
            "hold_reason": row.hold_reason,
            "hold_by": row.hold_by,
            "hold_since": _iso(row.hold_since),
            "hold_remaining_s": row.hold_remaining_s,
            "extensions": row.extensions,
            "content_blob": row.content_blob,
            "context_blob": row.context_blob,
            "context_version": row.context_version,
            **Vault._facts(row),
        }

    def _key(self, row: VaultItem) -> bytes:
        if row.wrapped_key is None or row.state == "purged":
            raise ConflictError(f"vault item {row.id} was purged on {_iso(row.purged_at)}")
        key = crypto.unwrap(self.ring, row.wrapped_key, row.uid)
        crypto.check_mac(key, self._mac_fields(row), row.meta_mac, f"vault item {row.id}")
        return key

    def _seal_meta(self, row: VaultItem, key: bytes) -> None:
        row.meta_mac = crypto.meta_mac(key, self._mac_fields(row))

    # -- putting ---------------------------------------------------------------------------------------
    @_db_errors
    def put(
        self,
        content: bytes,
        *,
        name: str,
        media_type: str,
        context: dict[str, Any],
        actor: str,
        source_key: str | None = None,
    ) -> ItemInfo:
        """Preserve ``content`` and its ``context`` (hashes, upload metadata, matches, rule and action
        records). With ``source_key`` the call is idempotent: a second put with the same key returns the
        first item and stores nothing."""
        if source_key is not None:
            existing = self._by_source(source_key)
            if existing is not None:
                return existing
        uid = uuid.uuid4().hex
        key = crypto.new_data_key()
        now = self.now()
        row = VaultItem(
            uid=uid,
            source_key=source_key,
            state="held",
            name=name[:400],
            media_type=media_type[:100],
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            md5=hashlib.md5(content).hexdigest(),
            created_at=now,
            created_by=actor,
            retain_until=now + self.retention,
            hold=False,
            extensions=0,
            context_version=1,
            content_blob=f"{uid}.content",
            context_blob=f"{uid}.context.1",
            wrapped_key=crypto.wrap(self.ring, key, uid),
            key_id=self.ring.current_id[:16],
        )
        facts = self._facts(row)
        self.store.put(
            row.content_blob or "", crypto.encrypt(key, content, crypto.blob_aad(uid, "content", 1, facts))
        )
        records = [{"at": _iso(now), "by": actor, "kind": "quarantine", "data": context}]
        self.store.put(
            row.context_blob or "",
            crypto.encrypt(key, _dump(records), crypto.blob_aad(uid, "context", 1, facts)),
        )
        with self.sessions() as s:
            try:
                s.add(row)
                s.flush()
                self._seal_meta(row, key)
                self.audit.record(
                    "vault.put",
                    actor,
                    f"vault:{row.id}",
                    {
                        "sha256": row.sha256,
                        "size": row.size,
                        "name": row.name,
                        "retain_until": _iso(row.retain_until),
                        "source": source_key,
                    },
                    session=s,
                )
                s.commit()
            except SAIntegrityError:
                s.rollback()
                for blob in (f"{uid}.content", f"{uid}.context.1"):
                    self.store.delete(blob)
                if source_key is not None:  # a concurrent put with the same key won
                    existing = self._by_source(source_key)
                    if existing is not None:
                        return existing
                raise
            return self._info(row)

    @_db_errors
    def find(self, source_key: str) -> int | None:
        """The id of the item put with ``source_key``, if any."""
        with self.sessions() as s:
            found = s.scalars(select(VaultItem.id).where(VaultItem.source_key == source_key)).first()
            return int(found) if found is not None else None

    def _by_source(self, source_key: str) -> ItemInfo | None:
        with self.sessions() as s:
            row = s.scalars(select(VaultItem).where(VaultItem.source_key == source_key)).first()
            return self._info(row) if row is not None else None

    # -- reading (every read is audited) ---------------------------------------------------------------
    def _row(self, s: Session, item_id: int) -> VaultItem:
        row = s.get(VaultItem, item_id)
        if row is None:
            raise NotFoundError(f"no vault item {item_id}")
        return row

    @_db_errors
    def info(self, item_id: int) -> ItemInfo:
        """An item's metadata, after checking its MAC (metadata only: not audited as a read)."""
        with self.sessions() as s:
            row = self._row(s, item_id)
            if row.state != "purged":
                self._key(row)
            return self._info(row)

    @_db_errors
    def items(self, *, state: str | None = None, limit: int = 200) -> list[ItemInfo]:
        q = select(VaultItem).order_by(VaultItem.id.desc()).limit(limit)
        if state:
            q = q.where(VaultItem.state == state)
        with self.sessions() as s:
            return [self._info(r) for r in s.scalars(q)]

    def _decrypt(self, row: VaultItem, key: bytes, kind: str) -> bytes:
        name = row.content_blob if kind == "content" else row.context_blob
        version = 1 if kind == "content" else row.context_version
        aad = crypto.blob_aad(row.uid, kind, version, self._facts(row))
        plain = crypto.decrypt(key, self.store.get(name or ""), aad, f"vault item {row.id} {kind}")
        if kind == "content" and hashlib.sha256(plain).hexdigest() != row.sha256:
            raise IntegrityError(f"vault item {row.id}: content does not match its recorded SHA-256")
        return plain

    @_db_errors
    def read(self, item_id: int, *, actor: str, purpose: str, event: str = "vault.read") -> bytes:
        """The content, for ``purpose`` (recorded). Reviewers use ``reveal``; reports and exports read."""
        with self.sessions() as s:
            row = self._row(s, item_id)
            key = self._key(row)
            content = self._decrypt(row, key, "content")
            self.audit.record(event, actor, f"vault:{item_id}", {"purpose": purpose, "sha256": row.sha256})
            return content

    def reveal(self, item_id: int, *, actor: str, reason: str) -> bytes:
        """The original content for a person who asked to see it, with their reason (audited)."""
        if not reason.strip():
            raise UsageError("a reveal needs a reason")
        return self.read(item_id, actor=actor, purpose=reason, event="vault.reveal")

    @_db_errors
    def context(self, item_id: int, *, actor: str) -> list[dict[str, Any]]:
        """The item's context records, oldest first (audited)."""
        with self.sessions() as s:
            row = self._row(s, item_id)
            records = json.loads(self._decrypt(row, self._key(row), "context"))
            self.audit.record("vault.read_context", actor, f"vault:{item_id}", {"records": len(records)})
            return list(records)

    @_db_errors
    def annotate(self, item_id: int, kind: str, data: dict[str, Any], *, actor: str) -> None:
        """Add a context record (an action's outcome, a decision): the context blob is re-written whole
        under the next version; the previous one is deleted after the row points at the new one."""
        with self.sessions() as s:
            row = self._row(s, item_id)
            key = self._key(row)
            records = json.loads(self._decrypt(row, key, "context"))
            records.append({"at": _iso(self.now()), "by": actor, "kind": kind, "data": data})
            old = row.context_blob
            row.context_version += 1
            row.context_blob = f"{row.uid}.context.{row.context_version}"
            self.store.put(
                row.context_blob,
                crypto.encrypt(
                    key,
                    _dump(records),
                    crypto.blob_aad(row.uid, "context", row.context_version, self._facts(row)),
                ),
            )
            self._seal_meta(row, key)
            self.audit.record("vault.annotate", actor, f"vault:{item_id}", {"kind": kind}, session=s)
            s.commit()
        if old:
            self.store.delete(old)

    # -- a FileSource for ReportService (URIs ``vault:<id>``) -------------------------------------------
    def open(self, uri: str) -> BinaryIO:
        return io.BytesIO(self.read(_item_id(uri), actor="system:reporting", purpose="CyberTipline report"))

    def name(self, uri: str) -> str:
        return self.info(_item_id(uri)).name

    # -- retention -------------------------------------------------------------------------------------
    def _change(
        self,
        item_id: int,
        event: str,
        actor: str,
        detail: dict[str, Any],
        mutate: Callable[[VaultItem], None],
    ) -> ItemInfo:
        with self.sessions() as s:
            row = self._row(s, item_id)
            key = self._key(row)
            mutate(row)
            self._seal_meta(row, key)
            self.audit.record(
                event,
                actor,
                f"vault:{item_id}",
                {**detail, "retain_until": _iso(row.retain_until), "hold": row.hold},
                session=s,
            )
            s.commit()
            return self._info(row)

    @_db_errors
    def mark_reported(
        self, item_id: int, report_id: int, *, actor: str, at: datetime | None = None
    ) -> ItemInfo:
        """Link a report: the retention clock restarts from the report's time (never shortens)."""
        when = at or self.now()

        def mutate(row: VaultItem) -> None:
            row.report_id, row.reported_at = report_id, when
            until = when + self.retention
            if row.hold:
                row.hold_remaining_s = max(row.hold_remaining_s or 0, int((until - when).total_seconds()))
            else:
                row.retain_until = max(_aware(row.retain_until) or until, until)

        return self._change(
            item_id, "vault.reported", actor, {"report_id": report_id, "at": _iso(when)}, mutate
        )

    @_db_errors
    def link_report(self, item_id: int, report_id: int, *, actor: str) -> ItemInfo:
        """Note the draft report that uses this item; the clock moves when the report is filed
        (``mark_reported``), since retention counts from the report, not the draft."""

        def mutate(row: VaultItem) -> None:
            row.report_id = report_id

        return self._change(item_id, "vault.report_linked", actor, {"report_id": report_id}, mutate)

    @_db_errors
    def reported_items(self) -> list[tuple[int, int, datetime | None]]:
        """(item, report, reported_at) of live items linked to a report."""
        with self.sessions() as s:
            rows = s.execute(
                select(VaultItem.id, VaultItem.report_id, VaultItem.reported_at).where(
                    VaultItem.state == "held", VaultItem.report_id.is_not(None)
                )
            ).all()
            return [(int(i), int(r or 0), _aware(at)) for i, r, at in rows]

    @_db_errors
    def hold(self, item_id: int, *, reason: str, actor: str) -> ItemInfo:
        """Put a legal hold on the item: the clock stops, and nothing purges it until it is released."""
        if not reason.strip():
            raise UsageError("a legal hold needs a reason")
        now = self.now()

        def mutate(row: VaultItem) -> None:
            if row.hold:
                raise ConflictError(
                    f"vault item {item_id} is already on hold ({row.hold_reason}, by {row.hold_by})"
                )
            remaining = (_aware(row.retain_until) or now) - now
            row.hold, row.hold_reason, row.hold_by, row.hold_since = True, reason, actor, now
            row.hold_remaining_s = max(0, int(remaining.total_seconds()))

        return self._change(item_id, "vault.hold", actor, {"reason": reason}, mutate)

    @_db_errors
    def release(self, item_id: int, *, reason: str, actor: str) -> ItemInfo:
        """End a legal hold: the clock runs again with the time that was left when it stopped."""
        now = self.now()

        def mutate(row: VaultItem) -> None:
            if not row.hold:
                raise ConflictError(f"vault item {item_id} is not on hold")
            row.retain_until = now + timedelta(seconds=row.hold_remaining_s or 0)
            row.hold, row.hold_reason, row.hold_by, row.hold_since, row.hold_remaining_s = (
                False,
                None,
                None,
                None,
                None,
            )

        return self._change(item_id, "vault.release", actor, {"reason": reason}, mutate)

    @_db_errors
    def extend(self, item_id: int, *, until: datetime, reason: str, actor: str) -> ItemInfo:
        """Keep the item longer, voluntarily, with a recorded reason (never shorter)."""
        if not reason.strip():
            raise UsageError("an extension needs a reason")

        def mutate(row: VaultItem) -> None:
            current = _aware(row.retain_until) or until
            if row.hold:
                row.hold_remaining_s = max(
                    row.hold_remaining_s or 0, int((until - self.now()).total_seconds())
                )
            elif until <= current:
                raise UsageError(f"vault item {item_id} is already kept until {_iso(current)}")
            else:
                row.retain_until = until
            row.extensions += 1

        return self._change(item_id, "vault.extend", actor, {"reason": reason, "until": _iso(until)}, mutate)

    @_db_errors
    def due(self) -> list[int]:
        """Items past their retention and not on hold."""
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(VaultItem.id)
                    .where(
                        VaultItem.state == "held",
                        VaultItem.hold.is_(False),
                        VaultItem.retain_until <= self.now(),
                    )
                    .order_by(VaultItem.id)
                )
            )

    @_db_errors
    def purge_due(self, *, actor: str = "system:retention") -> list[int]:
        """Purge every item past its retention (the scheduled job). An item whose metadata fails its check
        is not purged (its dates may have been forged) and is reported in the audit log instead."""
        purged = []
        for item_id in self.due():
            try:
                self._purge(item_id, actor)
                purged.append(item_id)
            except IntegrityError as exc:
                self.audit.record("vault.purge_refused", actor, f"vault:{item_id}", {"error": exc.message})
        return purged

    def _purge(self, item_id: int, actor: str) -> None:
        with self.sessions() as s:
            row = self._row(s, item_id)
            self._key(row)  # refuses if the retention dates were altered
            if row.hold or (_aware(row.retain_until) or self.now()) > self.now():
                raise ConflictError(f"vault item {item_id} is not due for purging")
            blobs = [b for b in (row.content_blob, row.context_blob) if b]
            record = {
                "reason": "retention expired",
                "sha256": row.sha256,
                "md5": row.md5,
                "size": row.size,
                "name": row.name,
                "created_at": _iso(row.created_at),
                "report_id": row.report_id,
                "reported_at": _iso(row.reported_at),
                "retain_until": _iso(row.retain_until),
                "blobs": blobs,
                "key_destroyed": True,
            }
            row.state, row.purged_at = "purged", self.now()
            row.wrapped_key, row.meta_mac, row.content_blob, row.context_blob = None, None, None, None
            self.audit.record("vault.purge", actor, f"vault:{item_id}", record, session=s)
            s.commit()
        for blob in blobs:  # after the commit: a crash leaves unreadable blobs (their key is gone), not a gap
            self.store.delete(blob)

    # -- key rotation ----------------------------------------------------------------------------------
    @_db_errors
    def rotate_keys(self, *, actor: str) -> int:
        """Re-wrap every live data key under the ring's current master key (the content is not touched);
        returns how many were re-wrapped. Run after ``rotate_key_file``; then the old key can be retired."""
        changed = 0
        with self.sessions() as s:
            for row in s.scalars(select(VaultItem).where(VaultItem.state == "held")):
                if row.wrapped_key is None or self.ring.sealed_with(row.wrapped_key) == self.ring.current_id:
                    continue
                row.wrapped_key = self.ring.reseal(row.wrapped_key, context=crypto.key_context(row.uid))
                row.key_id = self.ring.current_id[:16]
                changed += 1
            self.audit.record(
                "vault.rotate_key",
                actor,
                "vault",
                {"rewrapped": changed, "key_id": self.ring.current_id},
                session=s,
            )
            s.commit()
        return changed

    def iter_live(self) -> Iterator[int]:
        with self.sessions() as s:
            yield from s.scalars(select(VaultItem.id).where(VaultItem.state == "held").order_by(VaultItem.id))

    # -- rendering -------------------------------------------------------------------------------------
    @staticmethod
    def _info(row: VaultItem) -> ItemInfo:
        return ItemInfo(
            row.id,
            row.state,
            row.name,
            row.media_type,
            row.size,
            row.sha256,
            row.md5,
            _iso(row.created_at) or "",
            row.created_by,
            row.report_id,
            _iso(row.reported_at),
            _iso(row.retain_until) or "",
            row.hold,
            row.hold_reason,
            row.hold_by,
            row.extensions,
            row.key_id,
            _iso(row.purged_at),
        )


def _dump(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


def _item_id(uri: str) -> int:
    try:
        return int(uri.removeprefix("vault:"))
    except ValueError:
        raise FileAccessError("not a vault URI (want vault:<id>)", path=uri, code="not_found") from None
