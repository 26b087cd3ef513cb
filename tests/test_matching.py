"""Matcher on SQLite and PostgreSQL: PDQ within thresholds, digests exactly, and the PDQ index kept
in step with the database (add, remove, feedback, disable, delete) through the change log,
saved and reopened."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "banks"))
from bank_fixtures import store  # fixture

from haven.banks import BankStore, EntryIn
from haven.errors import FormatError
from haven.hashing import hash_file
from haven.matching import MANIFEST, Matcher
from haven.store.db import upgrade_database
from haven_testdata import drifted_thumbnail

RNG = random.Random(7)


def rand_pdq() -> str:
    return f"{RNG.getrandbits(256):064x}"


def flip(h: str, bits: int) -> str:
    """``h`` with its first ``bits`` bits flipped: Hamming distance exactly ``bits``."""
    v = int(h, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{v:064x}"


@pytest.fixture
def matcher_factory(store: BankStore, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**kw):  # type: ignore[no-untyped-def]
        return Matcher(store, index_dir=tmp_path / "index", **kw)

    return make


def test_pdq_threshold_digest_and_bank_thresholds(store: BankStore, matcher_factory) -> None:  # type: ignore[no-untyped-def]
    base = rand_pdq()
    store.create_bank("a", thresholds={"pdq": 10})
    store.create_bank("b")
    (ia,) = store.add_entries("a", [EntryIn("pdq", base, category="A1")])
    ib, imd5 = store.add_entries("b", [EntryIn("pdq", base, category="B"), EntryIn("md5", "ab" * 16)])
    store.add_entries("b", [EntryIn("pdq", rand_pdq()) for _ in range(200)])  # noise
    m = matcher_factory()
    near = m.match_hashes({"pdq": flip(base, 8)})
    assert [(x.bank, x.entry_id, x.distance) for x in near] == [("a", ia, 8), ("b", ib, 8)]
    assert near[0].severity == 4 and near[0].to_dict()["category"] == "A1"
    mid = m.match_hashes({"pdq": flip(base, 20)})  # beyond a's 10, within b's default 31
    assert [(x.bank, x.distance) for x in mid] == [("b", 20)]
    assert m.match_hashes({"pdq": flip(base, 32)}) == []
    assert [x.bank for x in m.match_hashes({"pdq": flip(base, 32)}, threshold=40)] == ["a", "b"]
    assert [x.bank for x in m.match_hashes({"pdq": flip(base, 8)}, threshold=5)] == []
    exact = m.match_hashes({"md5": "AB" * 16, "sha1": "cd" * 20})
    assert [(x.entry_id, x.signal, x.distance) for x in exact] == [(imd5, "md5", 0)]
    with pytest.raises(FormatError):
        m.match_hashes({"pdq": "zz"})


def brute_force(store: BankStore, query: str, t: int) -> set[int]:
    from haven.signals import PdqSignal

    out = set()
    for bank in store.list_banks():
        if not bank.enabled:
            continue
        for e in store.iter_entries(bank.name):
            if e.signal == "pdq" and e.active and PdqSignal.distance(e.value, query) <= t:
                out.add(e.id)
    return out


def test_index_follows_add_remove_feedback_disable_delete(store: BankStore, matcher_factory) -> None:  # type: ignore[no-untyped-def]
    base = rand_pdq()
    store.create_bank("a")
    m = matcher_factory(auto_refresh=None)
    q = flip(base, 3)
    assert m.match_hashes({"pdq": q}) == []

    ids = store.add_entries("a", [EntryIn("pdq", base), EntryIn("pdq", flip(base, 6))])
    assert m.refresh() == 1
    assert {x.entry_id for x in m.match_hashes({"pdq": q})} == set(ids) == brute_force(store, q, 31)

    store.set_feedback(ids[0], "false_positive")
    m.refresh()
    assert {x.entry_id for x in m.match_hashes({"pdq": q})} == {ids[1]} == brute_force(store, q, 31)
    assert m.stats()["banks"]["a"] == {"pdq": 1}  # removed from the index, not only filtered
    store.set_feedback(ids[0], None)
    store.remove_entry(ids[1])
    m.refresh()
    assert {x.entry_id for x in m.match_hashes({"pdq": q})} == {ids[0]} == brute_force(store, q, 31)

    store.set_enabled("a", False)
    m.refresh()
    assert m.match_hashes({"pdq": q}) == [] and brute_force(store, q, 31) == set()
    store.set_enabled("a", True)
    m.refresh()
    assert [x.entry_id for x in m.match_hashes({"pdq": q})] == [ids[0]]

    store.create_bank("b")
    (ib,) = store.add_entries("b", [EntryIn("pdq", base)])
    m.refresh()
    assert {x.bank for x in m.match_hashes({"pdq": q})} == {"a", "b"}
    store.delete_bank("a")
    m.refresh()
    assert [x.entry_id for x in m.match_hashes({"pdq": q})] == [ib]
    assert set(m.stats()["banks"]) == {"b"}


def test_stale_index_never_returns_disabled_entries(store: BankStore, matcher_factory) -> None:  # type: ignore[no-untyped-def]
    base = rand_pdq()
    store.create_bank("a")
    (i,) = store.add_entries("a", [EntryIn("pdq", base)])
    m = matcher_factory(auto_refresh=None)
    store.set_feedback(i, "disputed")  # no refresh: the index still holds it, the row check drops it
    assert m.match_hashes({"pdq": base}) == []


def test_hot_update_from_another_store_within_a_second(  # type: ignore[no-untyped-def]
    store: BankStore, matcher_factory, db_url: str
) -> None:
    base = rand_pdq()
    store.create_bank("live")
    m = matcher_factory(auto_refresh=0.2)
    assert m.match_hashes({"pdq": base}) == []
    with BankStore(db_url) as other:  # another process/worker writing
        (i,) = other.add_entries("live", [EntryIn("pdq", base)])
    deadline = time.monotonic() + 1.0
    while not m.match_hashes({"pdq": base}):
        assert time.monotonic() < deadline, "hash added elsewhere not matched within 1 s"
        time.sleep(0.05)
    assert m.match_hashes({"pdq": base})[0].entry_id == i


def test_save_reopen_and_catch_up(store: BankStore, matcher_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = rand_pdq()
    store.create_bank("a")
    first = store.add_entries("a", [EntryIn("pdq", flip(base, k)) for k in range(0, 40, 4)])
    m = matcher_factory()
    manifest = m.save_index()
    assert json.loads(manifest.read_text())["seq"] == m.seq
    later = store.add_entries("a", [EntryIn("pdq", flip(base, 1))])
    store.remove_entry(first[0])
    m2 = matcher_factory()
    assert m2.loaded_from == str(tmp_path / "index" / MANIFEST)
    got = {x.entry_id for x in m2.match_hashes({"pdq": base})}
    assert got == brute_force(store, base, 31) == (set(first[1:8]) | set(later))
    m2.save_index()
    files = sorted(p.name for p in (tmp_path / "index").iterdir())
    assert len(files) == 2 and MANIFEST in files  # the older index file was cleaned up


def test_saved_index_of_another_database_is_ignored(store: BankStore, tmp_path: Path) -> None:
    store.create_bank("a")
    base = rand_pdq()
    store.add_entries("a", [EntryIn("pdq", base)])
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade_database(other_url)
    with BankStore(other_url) as other:
        other.create_bank("z")
        other.add_entries("z", [EntryIn("pdq", flip(base, 2))])
        Matcher(other, index_dir=tmp_path / "idx").save_index()
    m = Matcher(store, index_dir=tmp_path / "idx")
    assert m.loaded_from == "database"
    assert [x.bank for x in m.match_hashes({"pdq": base})] == ["a"]


def test_match_many_pdq_equals_single_queries(store: BankStore, matcher_factory) -> None:  # type: ignore[no-untyped-def]
    store.create_bank("a")
    bases = [rand_pdq() for _ in range(30)]
    store.add_entries("a", [EntryIn("pdq", b) for b in bases])
    m = matcher_factory()
    queries = [flip(b, k % 40) for k, b in enumerate(bases)] + [rand_pdq() for _ in range(10)]
    batch = m.match_many("pdq", queries)
    assert [[x.entry_id for x in r] for r in batch] == [
        [x.entry_id for x in m.match_hashes({"pdq": q})] for q in queries
    ]
    assert sum(bool(r) for r in batch) == sum(1 for k in range(30) if k % 40 <= 31)


def test_match_file_finds_a_resized_copy(
    store: BankStore, matcher_factory, photos: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    src = sorted(photos.glob("*.jpg"))[0]
    r = hash_file(src)
    store.create_bank("p")
    store.add_entries(
        "p",
        [EntryIn("pdq", r.hashes["pdq"], quality=r.quality["pdq"]), EntryIn("sha256", r.hashes["sha256"])],
    )
    small = tmp_path / "small.jpg"
    with Image.open(src) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(small, quality=70)
    m = matcher_factory()
    result, matches = m.match_file(small)
    assert result.get("pdq") and [x.signal for x in matches] == ["pdq"] and matches[0].distance <= 31
    _, exact = m.match_file(src)
    assert [x.signal for x in exact] == ["pdq", "sha256"] and exact[0].distance == 0


def test_matching_from_threads_while_refreshing(store: BankStore, matcher_factory) -> None:  # type: ignore[no-untyped-def]
    import threading

    base = rand_pdq()
    store.create_bank("a")
    (keep,) = store.add_entries("a", [EntryIn("pdq", base)])
    m = matcher_factory(auto_refresh=None)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen = []

    def reader() -> None:
        try:
            while not stop.is_set():
                got = {x.entry_id for x in m.match_hashes({"pdq": base})}
                assert keep in got
                seen.append(len(got))
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for k in range(6):
            ids = store.add_entries("a", [EntryIn("pdq", flip(base, 1 + (k % 20))) for _ in range(20)])
            m.refresh()
            store.remove_entry(ids[0])
            m.refresh()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == [] and seen
    assert {x.entry_id for x in m.match_hashes({"pdq": base})} == brute_force(store, base, 31)


def test_index_newer_than_the_database_is_not_used(store: BankStore, tmp_path: Path) -> None:
    """After restoring an older database backup, a saved index from 'the future' must not hide new changes."""
    import shutil

    store.create_bank("a")
    base = rand_pdq()
    store.add_entries("a", [EntryIn("pdq", base)])
    m = Matcher(store, index_dir=tmp_path / "idx")
    m.save_index()
    manifest = tmp_path / "idx" / MANIFEST
    data = json.loads(manifest.read_text())
    data["seq"] += 1000  # as if the index had seen changes the (restored) database no longer has
    manifest.write_text(json.dumps(data))
    m2 = Matcher(store, index_dir=tmp_path / "idx")
    assert m2.loaded_from == "database"
    (j,) = store.add_entries("a", [EntryIn("pdq", flip(base, 40))])
    m2.refresh()
    assert [x.entry_id for x in m2.match_hashes({"pdq": flip(base, 40)}, threshold=0)] == [j]
    shutil.rmtree(tmp_path / "idx")


def test_match_file_upscaled_finds_a_drifted_thumbnail(
    store: BankStore,
    matcher_factory,
    photos: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    original, thumb = drifted_thumbnail(photos, tmp_path)
    store.create_bank("p")
    store.add_entries("p", [EntryIn("pdq", original, quality=100)])
    m = matcher_factory()
    _, plain = m.match_file(thumb, upscaled=False, dihedral=False, robust=False)
    assert plain == []
    result, found = m.match_file(thumb, upscaled=True, dihedral=False, robust=False)
    assert [x.signal for x in found] == ["pdq"] and found[0].distance <= 31
    assert found[0].variant is not None and found[0].to_dict()["upscaled_to"] in {
        int(v.key) for v in result.variants["pdq"]
    }


def test_haven_match_upscaled_option(store: BankStore, db_url: str, photos: Path, tmp_path: Path) -> None:
    """`haven match --upscaled`: exit 1 and ``upscaled_to`` in the JSON line; without it, exit 0."""
    from typer.testing import CliRunner

    from haven.cli.main import app

    original, thumb = drifted_thumbnail(photos, tmp_path)
    store.create_bank("p")
    store.add_entries("p", [EntryIn("pdq", original, quality=100)])
    env = {"HAVEN_DATABASE_URL": db_url, "HAVEN_DATA_DIR": str(tmp_path / "data")}
    only = ["--plain", "--no-dihedral"]  # the upscaled values alone (the defaults add the other steps)
    plain = CliRunner().invoke(app, ["match", str(thumb), "--json", "--no-upscaled", *only], env=env)
    assert plain.exit_code == 0 and json.loads(plain.stdout.splitlines()[-1])["matches"] == []
    up = CliRunner().invoke(app, ["match", str(thumb), "--json", "--upscaled", *only], env=env)
    assert up.exit_code == 1, up.stdout
    (m,) = json.loads(up.stdout.splitlines()[-1])["matches"]
    assert m["signal"] == "pdq" and m["distance"] <= 31 and m["upscaled_to"] in (256, 384, 512, 768)
    table = CliRunner().invoke(app, ["match", str(thumb), "--upscaled", *only], env=env)
    assert table.exit_code == 1 and "upscaled to" in table.stdout


@pytest.mark.parametrize("n", [2, 3])
def test_shards_together_match_exactly_as_one_matcher(
    store: BankStore, photos: Path, tmp_path: Path, n: int
) -> None:
    """n shard matchers (ids % n), saved and reopened, merged: the unsharded matcher's answer, variants and
    fallbacks included (a drifted thumbnail matched only through its upscaled values)."""
    from haven.hashing import hash_file
    from haven.matching import merge_shard_matches

    original, thumb = drifted_thumbnail(photos, tmp_path)
    bases = [rand_pdq() for _ in range(40)]
    store.create_bank("s", thresholds={"pdq": 20})
    store.add_entries("s", [EntryIn("pdq", b) for b in bases] + [EntryIn("pdq", original, quality=100),
                                                                   EntryIn("md5", "ab" * 16)])
    store.add_entries("s", [EntryIn("pdq", flip(b, 5)) for b in bases[:10]])
    queries = [hash_file(thumb, upscaled=True)]
    for b in bases[:15]:
        r = hash_file(thumb, upscaled=True)
        r.hashes = {"pdq": flip(b, 3), "md5": "ab" * 16}
        queries.append(r)
    whole = Matcher(store).match_results(queries)
    for k in range(n):  # saved once, so the shards below are mapped from their own files
        Matcher(store, index_dir=tmp_path / f"shard{k}", shard=(k, n)).save_index()
    shards = [Matcher(store, index_dir=tmp_path / f"shard{k}", shard=(k, n)) for k in range(n)]
    assert all(m.loaded_from.endswith(MANIFEST) for m in shards)
    parts = [m.match_results(queries) for m in shards]
    merged = [merge_shard_matches(p[i] for p in parts) for i in range(len(queries))]
    assert merged == whole
    assert whole[0] and whole[0][0].variant is not None  # the thumbnail, by its upscaled values
    assert sum(len(m) for m in whole) > 30
    # a shard's saved files are never taken for another shard's, nor for the whole bank's
    assert not Matcher(store, index_dir=tmp_path / "shard0").loaded_from.endswith(MANIFEST)
