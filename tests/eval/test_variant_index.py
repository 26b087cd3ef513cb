"""The matcher's index of stored variants (``BankIndexes``): a value near a variant stored with an entry
matches the entry, once, at the variant's distance and saying which; the entry's own value wins when
both match; switching the entry off, deleting it or its bank takes its variants out; a saved index
reopened, and shards, find them too."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from haven.banks import BankStore, EntryIn
from haven.matching import Matcher, merge_shard_matches

RNG = random.Random(17)


def rand_pdq() -> str:
    return f"{RNG.getrandbits(256):064x}"


def flip(h: str, bits: int) -> str:
    return f"{int(h, 16) ^ (((1 << bits) - 1) << (256 - bits)):064x}"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[BankStore]:
    s = BankStore(sqlite_url)
    try:
        yield s
    finally:
        s.close()


def add(store: BankStore, bank: str, value: str, variants: dict[str, str]) -> int:
    (entry_id, _), = store.add_entries_detail(bank, [EntryIn("pdq", value, quality=100,
                                                             extra={"variants": variants})], actor="t")
    return entry_id


def test_variant_hit_reports_the_entry(store: BankStore) -> None:
    store.create_bank("b")
    own, crop, rot = rand_pdq(), rand_pdq(), rand_pdq()
    entry = add(store, "b", own, {"crop:c4": crop, "rotate:r2.5": rot})
    others = [add(store, "b", rand_pdq(), {"crop:c4": rand_pdq()}) for _ in range(20)]
    m = Matcher(store)
    (hit,) = m.match_hashes({"pdq": flip(crop, 9)})
    assert hit.entry_id == entry and hit.distance == 9 and hit.value == own
    assert hit.to_dict()["bank_variant"] == "crop:c4"
    (hit,) = m.match_hashes({"pdq": flip(rot, 3)})
    assert hit.to_dict()["bank_variant"] == "rotate:r2.5"
    (hit,) = m.match_hashes({"pdq": own})  # the entry's own value: a plain match
    assert hit.variant is None and hit.distance == 0
    assert m.match_hashes({"pdq": flip(crop, 40)}) == []
    assert m.stats()["stored_variants"] == {"b": {"pdq": 2 + len(others)}}
    # Feedback that switches the entry off takes its variants out; removal too.
    store.set_feedback(entry, "false_positive", actor="t")
    m.refresh()
    assert m.match_hashes({"pdq": crop}) == []
    store.remove_entry(others[0], actor="t")
    m.refresh()
    assert m.stats()["stored_variants"] == {"b": {"pdq": len(others) - 1}}


def test_saved_index_and_shards_find_variants(store: BankStore, tmp_path: Path) -> None:
    store.create_bank("b")
    crops = [rand_pdq() for _ in range(12)]
    ids = [add(store, "b", rand_pdq(), {"crop:c2": c}) for c in crops]
    Matcher(store, index_dir=tmp_path / "idx").save_index()
    reopened = Matcher(store, index_dir=tmp_path / "idx")
    assert "idx" in reopened.loaded_from
    assert [x.entry_id for x in reopened.match_hashes({"pdq": flip(crops[5], 4)})] == [ids[5]]
    for k in range(12):
        parts = [Matcher(store, shard=(s, 3)).match_hashes({"pdq": crops[k]}) for s in range(3)]
        assert [x.entry_id for x in merge_shard_matches(parts)] == [ids[k]]
