"""Review console test helpers: a console over one migrated database (vault, audit, banks, report drafts)
with a controllable clock, staff actors, and items enqueued as the ``review`` action would."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from haven.actions.review_queue import ReviewQueue
from haven.audit import AuditLog
from haven.auth.actor import Actor
from haven.banks.store import BankStore
from haven.banks.types import EntryIn
from haven.config import Settings
from haven.evidence import LocalBlobStore, Vault
from haven.reporting.service import ReportService
from haven.reporting.settings import ReportingSettings
from haven.review import ReviewService
from haven.secrets import KeyRing, encode_key, new_key
from haven.store.db import make_engine

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "photos"
REPORTER = {"first_name": "Sam", "last_name": "Safety", "email": "safety@example.org", "company": "Example"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def photo(n: int) -> Path:
    return sorted(PHOTOS.glob("*.jpg"))[n]


def actor(uid: int, name: str, *roles: str) -> Actor:
    return Actor(kind="user", id=uid, name=name, realm="staff", roles=tuple(roles) or ("reviewer",))


def hf_energy(gray: np.ndarray) -> float:
    """Mean squared discrete Laplacian: the image's high-frequency energy (blur removes most of it)."""
    g = gray.astype(np.float64)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.mean(lap**2))


def blur_ratio(preview: Image.Image, original: Image.Image) -> float:
    """High-frequency energy of ``preview`` over that of ``original`` shrunk to the same size, in gray."""
    ref = original.convert("L").resize(preview.size, Image.Resampling.LANCZOS)
    return hf_energy(np.asarray(preview.convert("L"))) / hf_energy(np.asarray(ref))


def is_grayscale(im: Image.Image) -> bool:
    if im.mode in ("L", "LA", "1"):
        return True
    a = np.asarray(im.convert("RGB")).astype(int)
    return int(np.abs(a[..., 0] - a[..., 1]).max()) <= 2 and int(np.abs(a[..., 1] - a[..., 2]).max()) <= 2


@dataclass
class Console:
    url: str
    engine: Any
    clock: Clock
    audit: AuditLog
    vault: Vault
    queue: ReviewQueue
    banks: BankStore
    reports: ReportService
    service: ReviewService

    def close(self) -> None:
        self.reports.close()
        self.banks.close()
        self.engine.dispose()

    def bank_entry(
        self, bank: str, data: bytes, category: str = "A1", severity_scheme: str = "us-industry"
    ) -> int:
        if bank not in {b.name for b in self.banks.list_banks()}:
            self.banks.create_bank(bank, source="test")
        md5 = hashlib.md5(data).hexdigest()
        ids = self.banks.add_entries(
            bank,
            [EntryIn(signal="md5", value=md5, category=category, category_scheme=severity_scheme)],
            actor="test",
        )
        return ids[0] if ids else self.banks.lookup_digest("md5", md5, only_active=False)[0].id

    def enqueue(
        self,
        data: bytes,
        *,
        bank: str = "ncmec",
        category: str = "A1",
        severity: int | None = 3,
        queue: str | None = None,
        known: bool = True,
        name: str = "upload.jpg",
        media_type: str = "image/jpeg",
    ) -> int:
        """An item as the ``review`` action makes it: content in the vault, matches in the payload."""
        sha = hashlib.sha256(data).hexdigest()
        entry = self.bank_entry(bank, data, category) if known else None
        item = self.vault.put(
            data,
            name=name,
            media_type=media_type,
            context={"upload": {"user": "u-1"}},
            actor="rule:test",
            source_key=f"sha256:{sha}",
        )
        matches = (
            [
                {
                    "bank": bank,
                    "signal": "md5",
                    "distance": 0,
                    "category": category,
                    "category_scheme": "us-industry",
                    "severity": severity,
                    "entry_id": entry,
                    "value": hashlib.md5(data).hexdigest(),
                }
            ]
            if known
            else []
        )
        payload = {
            "hashes": {"sha256": sha, "md5": hashlib.md5(data).hexdigest()},
            "matches": matches,
            "name": name,
            "content_type": media_type,
            "content_id": f"c-{sha[:8]}",
            "context": {"kind": "upload", "received_at": self.clock().isoformat()},
        }
        return self.queue.add(
            queue=queue or self.service.route(matches, known=known),
            priority=severity or 0,
            severity=severity,
            known=known,
            content_id=payload["content_id"],
            sha256=sha,
            vault_item_id=int(item.id),
            payload=payload,
        )


def console(url: str, tmp: Path) -> Console:
    engine = make_engine(url)
    clock = Clock()
    settings = Settings(data_dir=tmp / "data", database_url=url, master_key=encode_key(new_key()))
    ring = KeyRing.load(settings)
    audit = AuditLog(engine, clock=clock)
    vault = Vault(engine, ring, LocalBlobStore(tmp / "vault"), audit, clock=clock)
    queue = ReviewQueue(engine, clock=clock)
    banks = BankStore(url)
    reports = ReportService(
        url, settings=settings, reporting=ReportingSettings(), file_source=vault, keyring=ring
    )
    service = ReviewService(
        engine, audit, queue, vault=lambda: vault, reports=lambda: reports, banks=lambda: banks, clock=clock
    )
    service.configure(actor(99, "root", "admin"), {"reporter": REPORTER})
    return Console(url, engine, clock, audit, vault, queue, banks, reports, service)
