"""BankStore on SQLite and PostgreSQL: migrations, bank life cycle, entries, feedback, change log."""

from __future__ import annotations

import pytest
from bank_fixtures import sqlite_store, store  # fixtures
from sqlalchemy import inspect

from haven.banks import BankStore, EntryIn
from haven.errors import ConflictError, FormatError, NotFoundError, UsageError
from haven.store.db import make_engine, upgrade_database

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_A = "e3c27dbbab9a3bbc92418e4bcd13b63d"


def test_migrations_from_empty_and_idempotent(empty_db_url: str) -> None:
    db_url = empty_db_url
    upgrade_database(db_url)
    upgrade_database(db_url)  # running again is a no-op
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    assert {"banks", "bank_entries", "bank_imports", "bank_changes", "bank_store_info"} <= tables
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("bank_entries")}
    assert {"ix_bank_entries_bank", "ix_bank_entries_digest"} <= indexes
    engine.dispose()


def test_banks_branch_downgrade_and_upgrade_again(db_url: str) -> None:
    from alembic import command

    from haven.store.db import alembic_config

    with BankStore(db_url) as store:
        store.create_bank("x")
    command.downgrade(alembic_config(db_url), "banks@0000_base")
    engine = make_engine(db_url)
    assert "banks" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade_database(db_url)
    with BankStore(db_url) as store:
        assert store.list_banks() == []


def test_bank_life_cycle(store: BankStore) -> None:
    b = store.create_bank(
        "ncmec-industry", source="NCMEC", description="d", thresholds={"pdq": 20}, actor="alice"
    )
    assert (b.name, b.source, b.description, b.enabled, b.created_by) == (
        "ncmec-industry",
        "NCMEC",
        "d",
        True,
        "alice",
    )
    assert b.threshold("pdq") == 20 and b.threshold("md5") == 0
    with pytest.raises(ConflictError):
        store.create_bank("ncmec-industry")
    with pytest.raises(UsageError):
        store.create_bank("bad name with spaces")
    with pytest.raises(UsageError):
        store.create_bank("t", thresholds={"pdq": 500})
    store.create_bank("aaa")
    assert [x.name for x in store.list_banks()] == ["aaa", "ncmec-industry"]
    off = store.set_enabled("ncmec-industry", False, actor="bob")
    assert off.enabled is False and off.updated_by == "bob"
    assert store.get_bank("ncmec-industry").enabled is False
    upd = store.update_bank("ncmec-industry", thresholds={"pdq": 10}, source="IWF")
    assert upd.thresholds == {"pdq": 10} and upd.source == "IWF"
    store.add_entries("ncmec-industry", [EntryIn("pdq", PDQ_A)])
    store.delete_bank("ncmec-industry")
    with pytest.raises(NotFoundError):
        store.get_bank("ncmec-industry")
    with pytest.raises(NotFoundError):
        store.delete_bank("ncmec-industry")
    assert [x.name for x in store.list_banks()] == ["aaa"]


def test_entries_validation_category_and_provenance(store: BankStore) -> None:
    store.create_bank("b")
    ids = store.add_entries(
        "b",
        [
            EntryIn("pdq", PDQ_A.upper(), quality=88, category="A1"),
            EntryIn("md5", MD5_A.upper(), category="B", series="S1", victim_identified=True, note="n"),
            EntryIn(
                "sha1",
                "9389DB3D602C487C63AF4BEDF501976BB816F67C",
                category="1",
                category_scheme="projectvic-us",
            ),
        ],
        actor="carol",
    )
    a, m, s = store.get_entries(ids)
    assert a.value == PDQ_A and a.quality == 88 and (a.category_scheme, a.severity) == ("us-industry", 4)
    assert m.value == MD5_A and (m.category_scheme, m.severity) == ("uk", 3)
    assert m.series == "S1" and m.victim_identified is True and m.note == "n"
    assert s.severity == 2 and s.created_by == "carol" and s.created_at is not None
    with pytest.raises(FormatError, match="entry 2"):
        store.add_entries("b", [EntryIn("md5", MD5_A), EntryIn("md5", "xyz")])
    with pytest.raises(FormatError):
        store.add_entries("b", [EntryIn("nosuch", "00")])
    with pytest.raises(FormatError):
        store.add_entries("b", [EntryIn("pdq", PDQ_A, quality=101)])
    assert len(list(store.iter_entries("b"))) == 3  # failed batches left nothing behind
    with pytest.raises(NotFoundError):
        store.add_entries("nope", [EntryIn("md5", MD5_A)])


def test_feedback_disables_without_deleting(store: BankStore) -> None:
    store.create_bank("b")
    (i,) = store.add_entries("b", [EntryIn("md5", MD5_A)])
    assert [e.id for e in store.lookup_digest("md5", MD5_A)] == [i]
    e = store.set_feedback(i, "false_positive", actor="dave")
    assert e.feedback == "false_positive" and e.feedback_by == "dave" and not e.active
    assert store.lookup_digest("md5", MD5_A) == []
    assert [x.id for x in store.lookup_digest("md5", MD5_A, only_active=False)] == [i]
    assert store.bank_stats("b")["entries"]["md5"] == {"total": 1, "active": 0}
    assert store.set_feedback(i, "confirmed").active
    assert store.set_feedback(i, None).feedback is None
    with pytest.raises(UsageError):
        store.set_feedback(i, "meh")
    store.set_enabled("b", False)
    assert store.lookup_digest("md5", MD5_A) == []
    store.remove_entry(i)
    with pytest.raises(NotFoundError):
        store.get_entry(i)
    with pytest.raises(NotFoundError):
        store.remove_entry(i)


def test_change_log_is_monotonic_and_complete(store: BankStore) -> None:
    seq0 = store.last_seq()
    store.create_bank("b")
    ids = store.add_entries("b", [EntryIn("pdq", PDQ_A), EntryIn("md5", MD5_A)])
    store.set_feedback(ids[0], "disputed")
    store.remove_entry(ids[1])
    store.set_enabled("b", False)
    seq, changes = store.changes_since(seq0)
    assert [c.op for c in changes] == ["bank", "sync", "sync", "sync", "bank"]
    assert (changes[1].lo, changes[1].hi) == (min(ids), max(ids))
    assert (changes[2].lo, changes[2].hi) == (ids[0], ids[0])
    assert [c.seq for c in changes] == sorted(c.seq for c in changes) and seq == changes[-1].seq
    assert store.changes_since(seq) == (seq, [])
    seq_mid, first_two = store.changes_since(seq0, limit=2)
    assert len(first_two) == 2 and store.changes_since(seq_mid)[1] == changes[2:]


def test_ids_are_not_reused_after_delete(store: BankStore) -> None:
    store.create_bank("b")
    (i,) = store.add_entries("b", [EntryIn("md5", MD5_A)])
    store.remove_entry(i)
    (j,) = store.add_entries("b", [EntryIn("md5", MD5_A)])
    assert j > i


def test_store_ids_differ_between_databases(sqlite_url: str, tmp_path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade_database(other)
    with BankStore(sqlite_url) as one, BankStore(other) as two:
        assert one.store_id() != two.store_id() and len(one.store_id()) == 32


def test_lookup_digests_in_batches_across_banks(store: BankStore) -> None:
    """Over more values than one IN (...) query takes: each value's entries, any case in, canonical
    out; absent, disabled-bank and false-positive entries left out; bad values refused."""
    store.create_bank("one")
    store.create_bank("two")
    values = [f"{k:032x}" for k in range(1200)]
    ids_one = store.add_entries("one", [EntryIn("md5", v) for v in values])
    ids_two = store.add_entries("two", [EntryIn("md5", v) for v in values[::100]])
    store.set_feedback(ids_one[5], "false_positive")
    asked = [v.upper() for v in values] + ["f" * 32]
    found = store.lookup_digests("md5", asked)
    assert set(found) == set(values) - {values[5]}
    assert [e.id for e in found[values[100]]] == [ids_one[100], ids_two[1]]
    assert [e.bank for e in found[values[7]]] == ["one"]
    store.set_enabled("two", False)
    assert [e.bank for e in store.lookup_digests("md5", [values[100]])[values[100]]] == ["one"]
    with pytest.raises(FormatError):
        store.lookup_digests("md5", ["not-hex"])
    with pytest.raises(UsageError):
        store.lookup_digests("pdq", [PDQ_A])
