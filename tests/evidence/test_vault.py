"""The evidence vault on SQLite and PostgreSQL: encryption at rest, tamper detection, key rotation,
retention with a controlled clock, legal hold, custody in the audit log, signed export packages."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from haven.audit import AuditLog
from haven.errors import ConflictError, IntegrityError, UsageError
from haven.evidence import LocalBlobStore, Vault, export_package, fingerprint, require_valid, verify_package
from haven.evidence.package import signing_key
from haven.secrets import KeyRing, create_key_file, read_key_file, retire_key, rotate_key_file
from haven.store.db import make_engine, upgrade_database

PHOTO = sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "photos").glob("*.jpg"))[0]
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def engine(db_url: str) -> Engine:
    upgrade_database(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "master.key"
    create_key_file(path)
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _vault(engine: Engine, key_file: Path, tmp_path: Path, clock: Clock) -> Vault:
    ring = KeyRing(read_key_file(key_file), source=str(key_file))
    return Vault(engine, ring, LocalBlobStore(tmp_path / "vault"), AuditLog(engine, clock=clock), clock=clock)


@pytest.fixture
def vault(engine: Engine, key_file: Path, tmp_path: Path, clock: Clock) -> Vault:
    return _vault(engine, key_file, tmp_path, clock)


def _put(vault: Vault, data: bytes | None = None, **kw: object) -> int:
    data = data if data is not None else PHOTO.read_bytes()
    item = vault.put(
        data,
        name=PHOTO.name,
        media_type="image/jpeg",
        context={"upload": {"ip": "203.0.113.7", "user": "u-19"}, "matches": [{"bank": "ncmec"}]},
        actor="rule:1",
        **kw,
    )  # type: ignore[arg-type]
    return item.id


def _blobs(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "vault").rglob("*") if p.is_file())


def test_round_trip_and_encrypted_at_rest(vault: Vault, tmp_path: Path) -> None:
    data = PHOTO.read_bytes()
    item_id = _put(vault, data)
    assert vault.read(item_id, actor="user:ana", purpose="test") == data
    records = vault.context(item_id, actor="user:ana")
    assert records[0]["kind"] == "quarantine" and records[0]["data"]["upload"]["ip"] == "203.0.113.7"
    blobs = _blobs(tmp_path)
    assert len(blobs) == 2
    for blob in blobs:
        raw = blob.read_bytes()
        assert data[:64] not in raw and b"203.0.113.7" not in raw and oct(blob.stat().st_mode)[-3:] == "600"
    info = vault.info(item_id)
    assert info.retain_until == (T0 + timedelta(days=365)).isoformat()


def test_put_is_idempotent_per_source_key(vault: Vault, tmp_path: Path) -> None:
    a = _put(vault, source_key="run:7")
    b = _put(vault, source_key="run:7")
    assert a == b and len(_blobs(tmp_path)) == 2 and len(vault.items()) == 1


def _flip(path: Path, at: int = 40) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def test_flipped_byte_in_content_blob_detected(vault: Vault, tmp_path: Path) -> None:
    item_id = _put(vault)
    _flip(next(p for p in _blobs(tmp_path) if p.name.endswith(".content")))
    with pytest.raises(IntegrityError, match="content: failed its integrity check"):
        vault.read(item_id, actor="a", purpose="p")


def test_flipped_byte_in_context_blob_detected(vault: Vault, tmp_path: Path) -> None:
    item_id = _put(vault)
    _flip(next(p for p in _blobs(tmp_path) if ".context." in p.name), at=30)
    with pytest.raises(IntegrityError, match="context"):
        vault.context(item_id, actor="a")


@pytest.mark.parametrize(
    "column,value",
    [
        ("name", "'other.jpg'"),
        ("size", "size + 1"),
        ("sha256", "'" + "0" * 64 + "'"),
        ("media_type", "'image/png'"),
        ("retain_until", "retain_until"),
        ("hold", "TRUE"),
        ("hold_reason", "'forged'"),
        ("extensions", "5"),
        ("report_id", "99"),
    ],
)
def test_changed_metadata_detected(
    vault: Vault, engine: Engine, column: str, value: str, clock: Clock
) -> None:
    item_id = _put(vault)
    if column == "retain_until":  # move the date: the purge clock must not be forgeable
        with engine.begin() as c:
            c.execute(
                text("UPDATE vault_items SET retain_until = :t WHERE id = :i"),
                {"t": T0 - timedelta(days=1), "i": item_id},
            )
    else:
        with engine.begin() as c:
            c.execute(text(f"UPDATE vault_items SET {column} = {value} WHERE id = :i"), {"i": item_id})
    with pytest.raises(IntegrityError):
        vault.read(item_id, actor="a", purpose="p")
    if column == "retain_until":
        assert vault.purge_due() == []  # refused, and the refusal is on record
        assert vault.audit.entries(event="vault.purge_refused")


def test_flipped_byte_in_wrapped_key_detected(vault: Vault, engine: Engine) -> None:
    item_id = _put(vault)
    with engine.connect() as c:
        wrapped = bytearray(
            c.execute(text("SELECT wrapped_key FROM vault_items WHERE id = :i"), {"i": item_id}).scalar_one()
        )
    wrapped[-3] ^= 0x80
    with engine.begin() as c:
        c.execute(
            text("UPDATE vault_items SET wrapped_key = :w WHERE id = :i"), {"w": bytes(wrapped), "i": item_id}
        )
    with pytest.raises(IntegrityError, match="data key does not open"):
        vault.read(item_id, actor="a", purpose="p")


def test_blob_swapped_between_items_detected(vault: Vault, engine: Engine) -> None:
    a, b = _put(vault), _put(vault, b"other bytes")
    with engine.begin() as c:
        blob_b = c.execute(text("SELECT content_blob FROM vault_items WHERE id = :i"), {"i": b}).scalar_one()
        c.execute(text("UPDATE vault_items SET content_blob = :n WHERE id = :i"), {"n": blob_b, "i": a})
    with pytest.raises(IntegrityError):
        vault.read(a, actor="a", purpose="p")


def test_key_rotation_rewraps_without_touching_content(
    engine: Engine, key_file: Path, tmp_path: Path, clock: Clock
) -> None:
    vault = _vault(engine, key_file, tmp_path, clock)
    ids = [_put(vault), _put(vault, b"second")]
    before = {p.name: p.read_bytes() for p in _blobs(tmp_path)}
    old_id = vault.ring.current_id
    rotate_key_file(key_file)
    rotated = _vault(engine, key_file, tmp_path, clock)
    assert rotated.rotate_keys(actor="user:admin") == 2
    assert rotated.rotate_keys(actor="user:admin") == 0  # nothing left under the old key
    assert {p.name: p.read_bytes() for p in _blobs(tmp_path)} == before  # content never re-encrypted
    retire_key(key_file, old_id)
    fresh = _vault(engine, key_file, tmp_path, clock)
    assert fresh.read(ids[1], actor="a", purpose="p") == b"second"
    assert all(i.key_id == fresh.ring.current_id[:16] for i in fresh.items())


def test_purge_after_a_year_with_a_controlled_clock(vault: Vault, clock: Clock, tmp_path: Path) -> None:
    item_id = _put(vault)
    sha = vault.info(item_id).sha256
    clock.advance(days=364)
    assert vault.purge_due() == []
    clock.advance(days=1, seconds=1)
    assert vault.purge_due() == [item_id]
    assert _blobs(tmp_path) == []
    info = vault.info(item_id)
    assert info.state == "purged" and info.purged_at == clock.now.isoformat()
    with pytest.raises(ConflictError, match="purged"):
        vault.read(item_id, actor="a", purpose="p")
    [entry] = vault.audit.entries(event="vault.purge")
    assert entry.detail["sha256"] == sha and entry.detail["key_destroyed"] is True
    assert entry.target == f"vault:{item_id}"
    assert vault.audit.verify().ok


def test_retention_counts_from_the_report(vault: Vault, clock: Clock) -> None:
    item_id = _put(vault)
    clock.advance(days=30)
    vault.mark_reported(item_id, 12, actor="system:reporting")
    clock.advance(days=340)  # 370 days after the quarantine, 340 after the report
    assert vault.purge_due() == []
    clock.advance(days=26)
    assert vault.purge_due() == [item_id]


def test_legal_hold_stops_the_clock(vault: Vault, clock: Clock) -> None:
    item_id = _put(vault)
    clock.advance(days=100)
    held = vault.hold(item_id, reason="preservation letter 24-117", actor="user:lee")
    assert held.hold and held.hold_by == "user:lee"
    with pytest.raises(ConflictError):
        vault.hold(item_id, reason="again", actor="user:lee")
    clock.advance(days=1000)
    assert vault.purge_due() == []
    released = vault.release(item_id, reason="case closed", actor="user:lee")
    assert released.retain_until == (clock.now + timedelta(days=265)).isoformat()  # the 265 days left
    clock.advance(days=264)
    assert vault.purge_due() == []
    clock.advance(days=2)
    assert vault.purge_due() == [item_id]
    events = [e.event for e in vault.audit.entries(target=f"vault:{item_id}")]
    assert events == ["vault.put", "vault.hold", "vault.release", "vault.purge"]


def test_extension_is_recorded(vault: Vault, clock: Clock) -> None:
    item_id = _put(vault)
    later = T0 + timedelta(days=800)
    with pytest.raises(UsageError, match="reason"):
        vault.extend(item_id, until=later, reason=" ", actor="user:lee")
    with pytest.raises(UsageError, match="already kept"):
        vault.extend(item_id, until=T0 + timedelta(days=10), reason="shorter", actor="user:lee")
    info = vault.extend(item_id, until=later, reason="victim identification in progress", actor="user:lee")
    assert info.retain_until == later.isoformat() and info.extensions == 1
    [e] = vault.audit.entries(event="vault.extend")
    assert e.detail["reason"] == "victim identification in progress"
    clock.advance(days=500)
    assert vault.purge_due() == []


def test_custody_every_access_recorded(vault: Vault) -> None:
    item_id = _put(vault)
    vault.read(item_id, actor="system:reporting", purpose="report")
    with pytest.raises(UsageError):
        vault.reveal(item_id, actor="user:ana", reason="")
    vault.reveal(item_id, actor="user:ana", reason="confirm the match")
    vault.annotate(item_id, "decision", {"decision": "confirm", "class": "A1"}, actor="user:ana")
    events = [(e.event, e.actor) for e in vault.audit.entries(target=f"vault:{item_id}")]
    assert events == [
        ("vault.put", "rule:1"),
        ("vault.read", "system:reporting"),
        ("vault.reveal", "user:ana"),
        ("vault.annotate", "user:ana"),
    ]
    records = vault.context(item_id, actor="user:lee")
    assert [r["kind"] for r in records] == ["quarantine", "decision"]


def test_export_package_verifies_and_tampering_is_refused(vault: Vault, tmp_path: Path) -> None:
    a, b = _put(vault), _put(vault, b"second item")
    pkg = tmp_path / "case.zip"
    manifest = export_package(vault, [a, b], pkg, actor="user:lee", reason="LE request 117", recipient="FBI")
    check = require_valid(pkg)
    assert check.ok and check.items == 2 and check.files == 6
    _, pem = signing_key(vault)
    assert check.fingerprint == fingerprint(pem) == manifest["signing_key_fingerprint"]
    assert verify_package(pkg, public_key_pem=pem.encode()).ok
    with zipfile.ZipFile(pkg) as zf:
        assert zf.read(f"items/{a}/content") == PHOTO.read_bytes()
        custody = json.loads(zf.read(f"items/{a}/custody.json"))
        assert [c["event"] for c in custody][-1] == "vault.export"  # the custody log ends with this export
    with pytest.raises(Exception, match="overwrite"):
        export_package(vault, [a], pkg, actor="user:lee", reason="again")

    def rewrite(name: str, change) -> Path:  # type: ignore[no-untyped-def]
        out = tmp_path / f"bad-{len(list(tmp_path.glob('bad-*')))}.zip"
        with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                data = src.read(info.filename)
                if info.filename == name:
                    data = change(data)
                    if data is None:
                        continue
                dst.writestr(info.filename, data)
        return out

    flipped = rewrite(f"items/{b}/content", lambda d: d[:-1] + bytes([d[-1] ^ 1]))
    assert "does not match its hash" in (verify_package(flipped).problem or "")
    edited = rewrite("manifest.json", lambda d: d.replace(b"LE request 117", b"LE request 118"))
    assert "signature does not verify" in (verify_package(edited).problem or "")
    removed = rewrite(f"items/{a}/custody.json", lambda d: None)
    assert "missing" in (verify_package(removed).problem or "")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert "signature does not verify" in (verify_package(pkg, public_key_pem=stranger).problem or "")
    with pytest.raises(IntegrityError, match="refused"):
        require_valid(flipped)
    with zipfile.ZipFile(pkg, "a") as zf:
        zf.writestr("items/extra.txt", b"planted")
    assert "not in the manifest" in (verify_package(pkg).problem or "")


def test_vault_is_a_report_file_source(vault: Vault) -> None:
    from haven.reporting.files import facts

    item_id = _put(vault)
    f = facts(vault, f"vault:{item_id}")
    assert f.name == PHOTO.name and f.sha256 == vault.info(item_id).sha256
    assert vault.audit.entries(event="vault.read", actor="system:reporting")


def test_haven_secrets_rotate_reseals_the_vault(engine: Engine, key_file: Path, tmp_path: Path, clock: Clock,
                                               db_url: str) -> None:
    """The vault registers with ``haven secrets``: its data keys and signing key are re-sealed on rotation,
    and nothing is left under the old key (so it can be retired)."""
    from haven.config import Settings
    from haven.secrets import sealed_data

    vault = _vault(engine, key_file, tmp_path, clock)
    item_id = _put(vault)
    signing_key(vault)
    old = vault.ring.current_id
    [data] = [d for d in sealed_data() if d.name == "vault-and-actions"]
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, master_key_file=key_file)
    assert data.usage(vault.ring, settings) == {old: 2}
    rotate_key_file(key_file)
    ring = KeyRing(read_key_file(key_file))
    assert data.reseal(ring, settings) == 2
    assert data.usage(ring, settings) == {ring.current_id: 2}
    retire_key(key_file, old)
    fresh = _vault(engine, key_file, tmp_path, clock)
    assert fresh.read(item_id, actor="a", purpose="p") == PHOTO.read_bytes()
