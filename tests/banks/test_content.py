"""Contents (``haven.banks.content``), ``disable_until_ts`` and ``enabled_ratio`` in the store and the
Matcher, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time

import pytest
from bank_fixtures import store  # fixture

from haven.banks import BankStore, EntryIn
from haven.banks import content as contents
from haven.errors import FormatError, NotFoundError, UsageError
from haven.matching import Matcher

PDQ = "c4c8ea717e051345376f69602e6758980037f7e176337ad8e9f9bd4a8f76c88c"  # the formats README's example


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_content_groups_its_entries(store: BankStore) -> None:
    store.create_bank("B")
    store.add_entries("B", [EntryIn(signal="md5", value=md5("native"))])  # a content of its own
    c = contents.add_content(store, "B", [EntryIn(signal="pdq", value=PDQ, note="n"),
                                          EntryIn(signal="md5", value=md5("grouped"), note="n")])
    assert c.values() == {"pdq": PDQ, "md5": md5("grouped")} and c.note == "n"
    assert [e.item for e in c.entries] == [f"content:{c.id}"] * 2 and c.id == c.entries[0].id
    assert [contents.content_id(e.id, e.item) for e in c.entries] == [c.id, c.id]
    # idempotent: the same value again answers the same content, and a new value joins it
    again = contents.add_content(store, "B", [EntryIn(signal="pdq", value=PDQ),
                                              EntryIn(signal="sha1", value=hashlib.sha1(b"x").hexdigest())])
    assert again.id == c.id and set(again.values()) == {"pdq", "md5", "sha1"}
    native = store.lookup_digest("md5", md5("native"))[0]
    assert contents.get_content(store, "B", native.id).values() == {"md5": md5("native")}
    store.create_bank("OTHER")
    with pytest.raises(NotFoundError):
        contents.get_content(store, "OTHER", c.id)  # a content is found in its own bank only
    updated = contents.update_content(store, again, note="m", disable_until_ts=0)
    assert {(e.note, e.disable_until_ts) for e in updated.entries} == {("m", 0)}
    assert contents.remove_content(store, "B", c.id) == 1
    assert contents.remove_content(store, "B", c.id) == 0
    assert [e.value for e in store.iter_entries("B")] == [md5("native")]
    with pytest.raises(NotFoundError):
        contents.remove_content(store, "NO_SUCH_BANK", 1)


def test_disable_until_ts_in_every_match(store: BankStore) -> None:
    store.create_bank("B")
    pdq_id, md5_id = store.add_entries("B", [EntryIn(signal="pdq", value=PDQ),
                                              EntryIn(signal="md5", value=md5("d"))])
    matcher = Matcher(store, auto_refresh=0)

    def matched() -> set[str]:
        return {m.signal for m in matcher.match_hashes({"pdq": PDQ, "md5": md5("d")})}

    assert matched() == {"pdq", "md5"}
    store.update_entries([pdq_id, md5_id], disable_until_ts=int(time.time()) + 3600)
    assert matched() == set()  # the index still holds the PDQ: the time is checked on the rows
    store.update_entries([pdq_id], disable_until_ts=int(time.time()) - 1)
    store.update_entries([md5_id], disable_until_ts=1)  # HMA's "enabled"
    assert matched() == {"pdq", "md5"}
    store.update_entries([pdq_id, md5_id], disable_until_ts=0)  # HMA's "disabled"
    assert matched() == set()
    store.update_entries([pdq_id, md5_id], disable_until_ts=None)
    assert matched() == {"pdq", "md5"}
    with pytest.raises(FormatError):
        store.update_entries([pdq_id], disable_until_ts=-5)
    with pytest.raises(UsageError):
        store.update_entries([pdq_id], value="x")
    # an entry added disabled
    later = int(time.time()) + 60
    store.add_entries("B", [EntryIn(signal="md5", value=md5("later"), disable_until_ts=later)])
    assert matcher.match_hashes({"md5": md5("later")}) == []


def test_enabled_ratio_and_rename(store: BankStore) -> None:
    store.create_bank("HALF", enabled_ratio=0.5)
    store.create_bank("FULL")
    for bank in ("HALF", "FULL"):
        store.add_entries(bank, [EntryIn(signal="md5", value=md5("r"))])
    matcher = Matcher(store, auto_refresh=0)
    assert {m.bank for m in matcher.match_hashes({"md5": md5("r")}, coin=0.4)} == {"HALF", "FULL"}
    assert {m.bank for m in matcher.match_hashes({"md5": md5("r")}, coin=0.6)} == {"FULL"}
    assert {m.bank for m in matcher.match_hashes({"md5": md5("r")})} == {"HALF", "FULL"}  # not sampled
    renamed = store.update_bank("HALF", new_name="HALVED", enabled_ratio=0.75)
    assert (renamed.name, renamed.enabled_ratio) == ("HALVED", 0.75)
    assert {m.bank for m in matcher.match_hashes({"md5": md5("r")}, coin=0.6)} == {"HALVED", "FULL"}
    with pytest.raises(UsageError):
        store.update_bank("HALVED", enabled_ratio=1.5)
    from haven.errors import ConflictError

    with pytest.raises(ConflictError):
        store.update_bank("HALVED", new_name="FULL")
