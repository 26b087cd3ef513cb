"""The ``file`` exchange through the CLI, on SQLite and PostgreSQL: after ``haven exchange add … --type file``
and ``haven exchange fetch``, the bank holds exactly the file's signals; after lines are removed and added
and the fetch is run again, exactly the new file's; a URL source goes through the SSRF guard."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from haven.banks import BankStore
from haven_cli import env, run


def _values(n: int, tag: str) -> list[tuple[str, str]]:
    """(pytx type, value) lines: PDQ and MD5 strings derived from a tag (not hashes of any media)."""
    out = []
    for i in range(n):
        raw = f"{tag}:{i}".encode()
        out.append(
            ("pdq", hashlib.sha256(raw).hexdigest()) if i % 2 else ("video_md5", hashlib.md5(raw).hexdigest())
        )
    return out


def _write(path: Path, lines: list[tuple[str, str]]) -> None:
    path.write_text("".join(f"{t} {v}\n" for t, v in lines), encoding="utf-8")


def _expected(lines: list[tuple[str, str]]) -> set[tuple[str, str]]:
    return {("md5" if t == "video_md5" else t, v) for t, v in lines}


def _bank(url: str, name: str) -> set[tuple[str, str]]:
    store = BankStore(url)
    try:
        return {(e.signal, e.value) for e in store.iter_entries(name)}
    finally:
        store.close()


@pytest.fixture
def db(env: dict[str, str], db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HAVEN_DATABASE_URL", db_url)
    return db_url


def test_file_exchange_bank_equals_the_file(db: str, tmp_path: Path) -> None:
    path = tmp_path / "shared-list.txt"
    first = _values(40, "a")
    _write(path, [*first, ("not_a_type", "zzz")])
    code, out = run(
        "exchange", "add", "shared", "--type", "file", "--source", str(path), "--bank", "shared-bank"
    )
    assert code == 0, out
    code, out = run("exchange", "fetch", "shared")
    assert code == 0, out
    assert "40 added" in out and "1 refused" in out
    assert _bank(db, "shared-bank") == _expected(first)

    second = first[5:] + _values(7, "b")  # 5 lines removed, 7 added
    _write(path, second)
    code, out = run("exchange", "fetch", "shared")
    assert code == 0, out
    assert "7 added" in out and "5 tombstones (5 entries removed)" in out
    assert _bank(db, "shared-bank") == _expected(second)

    code, out = run("exchange", "fetch", "shared")
    assert code == 0 and "unchanged" in out
    code, out = run("exchange", "show", "shared", "--json")
    assert code == 0 and '"items": 42' in out and '"tombstones": 5' in out

    assert run("exchange", "set", "shared", "--interval", "2h")[0] == 0
    assert run("exchange", "disable", "shared")[0] == 0
    code, out = run("exchange", "list")
    assert code == 0 and "shared  file  bank shared-bank  disabled  every 7200s" in out
    code, out = run("exchange", "fetch")  # every enabled exchange: none
    assert code == 0 and "shared" not in out
    assert run("exchange", "enable", "shared")[0] == 0
    code, out = run("exchange", "remove", "shared", "--purge")
    assert code == 0 and "42 bank entries removed" in out
    assert _bank(db, "shared-bank") == set()
    code, out = run("exchange", "show", "shared")
    assert code == 2 and "no exchange named 'shared'" in out


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_file_exchange_from_a_url_goes_through_the_ssrf_guard(
    env: dict[str, str], sqlite_url: str, web: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAVEN_DATABASE_URL", sqlite_url)
    base, root = web
    lines = _values(12, "url")
    _write(root / "list.txt", lines)
    code, out = run(
        "exchange", "add", "web", "--type", "file", "--source", f"{base}/list.txt", "--bank", "web"
    )
    assert code == 0, out
    code, out = run("exchange", "fetch", "web")
    assert code != 0 and "127.0.0.1" in out  # a loopback address is refused like any internal one
    assert _bank(sqlite_url, "web") == set()
    monkeypatch.setenv("HAVEN_FETCH_ALLOW", "127.0.0.1/32")  # the test-only exemption
    code, out = run("exchange", "fetch", "web")
    assert code == 0, out
    assert _bank(sqlite_url, "web") == _expected(lines)


def test_a_tombstone_never_removes_what_someone_else_keeps(db_url: str, tmp_path: Path) -> None:
    """Two exchanges feeding one bank share a value; a person added another by hand. A line gone from one file
    removes the entry only when nothing else keeps it."""
    from haven.banks import EntryIn
    from haven.exchanges import ExchangeStore, fetch

    banks = BankStore(db_url)
    try:
        xs = ExchangeStore(banks)
        shared, mine, by_hand = _values(3, "overlap")
        banks.create_bank("b")
        (hand_id,) = banks.add_entries(
            "b",
            [EntryIn(signal="md5" if by_hand[0] == "video_md5" else by_hand[0], value=by_hand[1])],
            actor="analyst",
        )
        a, b = tmp_path / "a.txt", tmp_path / "b.txt"
        _write(a, [shared, mine, by_hand])
        _write(b, [shared])
        xs.add("a", "file", "b", options={"source": str(a)})
        xs.add("b", "file", "b", options={"source": str(b)})
        first = fetch(xs, "a")
        assert (first.added, first.linked) == (2, 1)  # the hand-added value is linked, not added again
        assert fetch(xs, "b").linked == 1
        _write(a, [])  # every line gone from a
        gone = fetch(xs, "a")
        assert (
            gone.tombstones == 3 and gone.removed == 1
        )  # only `mine`: b keeps `shared`, a person added the other
        assert _bank(db_url, "b") == _expected([shared, by_hand])
        assert banks.get_entry(hand_id).created_by == "analyst"
        _write(b, [])
        assert fetch(xs, "b").removed == 1
        assert _bank(db_url, "b") == _expected([by_hand])
    finally:
        banks.close()
