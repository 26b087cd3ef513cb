"""The audit chain on SQLite and PostgreSQL: appends, verification, and every kind of tampering caught."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from haven.audit import Anchor, AuditLog, append_anchor, read_anchors
from haven.audit.chain import entry_hash
from haven.store.db import make_engine, upgrade_database

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(db_url: str) -> Engine:
    upgrade_database(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def _fill(log: AuditLog, n: int = 8) -> None:
    for i in range(n):
        log.record("test.event", f"user:u{i % 3}", f"thing:{i}", {"i": i, "note": "é ✓"})


def test_record_and_verify(engine: Engine) -> None:
    log = AuditLog(engine)
    assert log.verify().ok and log.verify().entries == 0
    first = log.record("key.create", "system", "key:1", {"scopes": ["admin"]})
    assert first.seq == 1 and first.prev_hash == "0" * 64
    _fill(log)
    result = log.verify()
    assert result.ok and result.entries == 9 and result.head is not None and result.head.seq == 9
    got = log.entries(target="key:1")
    assert [e.detail for e in got] == [{"scopes": ["admin"]}]
    assert [e.seq for e in log.entries(limit=2, newest_first=True)] == [9, 8]


def test_hash_covers_every_stored_field(engine: Engine) -> None:
    log = AuditLog(engine)
    e = log.record("ev", "actor", "target", {"k": "v"})
    with engine.connect() as c:
        row = c.execute(text("SELECT * FROM audit_log")).mappings().one()
    assert set(row) == {"seq", "at", "event", "actor", "target", "detail", "prev_hash", "hash"}
    assert (
        row["hash"]
        == entry_hash(
            row["seq"], row["at"], row["event"], row["actor"], row["target"], row["detail"], row["prev_hash"]
        )
        == e.hash
    )


def _exec(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as c:
        c.execute(text(sql), params)


@pytest.mark.parametrize(
    "column,value",
    [
        ("event", "x.other"),
        ("actor", "user:mallory"),
        ("target", "t:0"),
        ("detail", '{"i":99}'),
        ("at", "2020-01-01T00:00:00.000000Z"),
        ("prev_hash", "f" * 64),
        ("hash", "e" * 64),
    ],
)
def test_edit_of_any_field_is_named(engine: Engine, column: str, value: str) -> None:
    log = AuditLog(engine)
    _fill(log)
    _exec(engine, f"UPDATE audit_log SET {column} = :v WHERE seq = 5", v=value)
    r = log.verify()
    assert not r.ok and r.problem is not None
    assert (r.problem.kind, r.problem.seq) == ("edited", 5), r.problem
    assert r.entries == 4


def test_edit_with_rehash_is_named(engine: Engine) -> None:
    log = AuditLog(engine)
    _fill(log)
    with engine.connect() as c:
        row = c.execute(text("SELECT * FROM audit_log WHERE seq = 4")).mappings().one()
    forged = entry_hash(
        4, row["at"], row["event"], "user:mallory", row["target"], row["detail"], row["prev_hash"]
    )
    _exec(engine, "UPDATE audit_log SET actor = 'user:mallory', hash = :h WHERE seq = 4", h=forged)
    r = log.verify()
    assert r.problem is not None and (r.problem.kind, r.problem.seq) == ("edited", 4), r.problem


def test_deleted_entry_is_named(engine: Engine) -> None:
    log = AuditLog(engine)
    _fill(log)
    _exec(engine, "DELETE FROM audit_log WHERE seq IN (3, 4)")
    r = log.verify()
    assert r.problem is not None and (r.problem.kind, r.problem.seq) == ("deleted", 3), r.problem
    assert "3-4" in r.problem.message


def test_deleted_and_renumbered_is_named(engine: Engine) -> None:
    log = AuditLog(engine)
    _fill(log)
    _exec(engine, "DELETE FROM audit_log WHERE seq = 3")
    for seq in range(4, 9):
        _exec(engine, "UPDATE audit_log SET seq = :n WHERE seq = :o", n=seq - 1, o=seq)
    r = log.verify()
    assert r.problem is not None and (r.problem.kind, r.problem.seq) == ("deleted", 3), r.problem


def test_inserted_entry_is_named(engine: Engine) -> None:
    """A forger must shift the later entries (seq is the key) and link the forgery to entry 4."""
    log = AuditLog(engine)
    _fill(log)
    with engine.connect() as c:
        rows = c.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings().all()
    _exec(engine, "DELETE FROM audit_log WHERE seq >= 5")
    at, detail = "2024-01-01T00:00:00.000000Z", "{}"
    forged = entry_hash(5, at, "login", "user:mallory", None, detail, rows[3]["hash"])
    with engine.begin() as c:
        for r in rows[4:]:
            c.execute(
                text("INSERT INTO audit_log VALUES (:seq, :at, :event, :actor, :target, :detail, :p, :hash)"),
                {**r, "seq": r["seq"] + 1, "p": r["prev_hash"]},
            )
        c.execute(
            text("INSERT INTO audit_log VALUES (5, :at, 'login', 'user:mallory', NULL, :d, :p, :h)"),
            {"at": at, "d": detail, "p": rows[3]["hash"], "h": forged},
        )
    r = log.verify()
    assert r.problem is not None and (r.problem.kind, r.problem.seq) == ("inserted", 5), r.problem


def test_reordered_entries_are_named(engine: Engine) -> None:
    log = AuditLog(engine)
    _fill(log)
    _exec(engine, "UPDATE audit_log SET seq = 100 WHERE seq = 3")
    _exec(engine, "UPDATE audit_log SET seq = 3 WHERE seq = 4")
    _exec(engine, "UPDATE audit_log SET seq = 4 WHERE seq = 100")
    r = log.verify()
    assert r.problem is not None and (r.problem.kind, r.problem.seq) == ("reordered", 3), r.problem


def test_truncation_caught_by_anchor(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine)
    _fill(log)
    anchors = tmp_path / "anchors.jsonl"
    head = log.head()
    assert head is not None
    append_anchor(anchors, head)
    assert log.verify(read_anchors(anchors)).ok
    _exec(engine, "DELETE FROM audit_log WHERE seq >= 7")
    assert log.verify().ok  # the chain alone cannot see a cut tail…
    r = log.verify(read_anchors(anchors))  # …the anchor can
    assert not r.ok and r.problem is not None and (r.problem.kind, r.problem.seq) == ("truncated", 7)


def test_rewrite_after_anchor_caught(engine: Engine) -> None:
    log = AuditLog(engine)
    _fill(log)
    anchor = log.head()
    assert anchor is not None
    _exec(engine, "DELETE FROM audit_log")
    _exec(engine, "DELETE FROM audit_head")
    _fill(log)  # a whole new, internally consistent chain
    assert log.verify().ok
    r = log.verify([anchor])
    assert r.problem is not None and (r.problem.kind, r.problem.seq) == ("edited", 8)


def test_clock_and_session_join(engine: Engine) -> None:
    t0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    log = AuditLog(engine, clock=lambda: t0 + timedelta(microseconds=5))
    with log.sessions() as s:
        log.record("a", "system", session=s)
        s.rollback()
    assert log.count() == 0  # rolled back with the caller's transaction
    with log.sessions() as s:
        e = log.record("a", "system", session=s)
        s.commit()
    assert e.at == "2025-05-01T12:00:00.000005Z" and log.verify().ok


def test_threads_never_fork_the_chain(engine: Engine) -> None:
    log = AuditLog(engine)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                log.record("thread", f"t{n}", None, {"i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    r = log.verify()
    assert r.ok and r.entries == 60


WRITER = """
import sys
from haven.audit import AuditLog
from haven.store.db import make_engine
log = AuditLog(make_engine(sys.argv[1]))
for i in range(int(sys.argv[3])):
    log.record("proc", "proc:" + sys.argv[2], None, {"i": i})
"""


def test_two_processes_never_fork_the_chain(engine: Engine, db_url: str) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(n), "40"]) for n in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    r = AuditLog(engine).verify()
    assert r.ok and r.entries == 80
    actors = {e.actor for e in AuditLog(engine).entries()}
    assert actors == {"proc:0", "proc:1"}


def test_cli_verify_exit_codes(engine: Engine, db_url: str, tmp_path: Path) -> None:
    _fill(AuditLog(engine))
    env = {"HAVEN_DATABASE_URL": db_url, "HAVEN_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    haven = [sys.executable, "-m", "haven.cli.main"]
    anchors = tmp_path / "a.jsonl"
    ok = subprocess.run(
        [*haven, "audit", "anchor", "--out", str(anchors)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    ok = subprocess.run(
        [*haven, "audit", "verify", "--anchors", str(anchors)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and "ok: 8 entries, 1 anchors checked" in ok.stdout
    _exec(engine, "UPDATE audit_log SET detail = '{}' WHERE seq = 2")
    bad = subprocess.run(
        [*haven, "audit", "verify", "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 3
    assert json.loads(bad.stdout)["problem"]["seq"] == 2
    assert "audit log broken at entry 2 (edited)" in bad.stderr


def test_anchor_file_errors_name_the_line(tmp_path: Path) -> None:
    from haven.errors import FormatError

    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps(Anchor(1, "a" * 64).to_dict()) + "\nnot json\n")
    with pytest.raises(FormatError, match="line 2"):
        read_anchors(p)


def test_security_events_feed_the_log(engine: Engine) -> None:
    from haven.audit import security_events
    from haven.auth.events import SecurityEvents

    log = AuditLog(engine)
    hub = SecurityEvents(log_events=False)
    hub.subscribe(security_events(log))
    kinds = sorted(__import__("haven.auth.events", fromlist=["KINDS"]).KINDS)
    hub.emit(kinds[0], realm="review", username="ana", user_id=3, client="203.0.113.7", detail={"totp": True})
    [e] = log.entries()
    assert e.event == f"auth.{kinds[0]}" and e.target == "user:3" and e.actor == "user:3:ana"
    assert e.detail == {"realm": "review", "client": "203.0.113.7", "username": "ana", "totp": True}
    assert log.verify().ok
