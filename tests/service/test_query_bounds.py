"""Bounded cost for authenticated callers: the PDQ threshold is capped where matches still mean something,
results per query are capped by ``limit`` (with ``limit_reached``), and wide index queries run off the
event loop. Against a live server on loopback."""

from __future__ import annotations

import threading
import time

import pytest
from service_live import live, wait_ready

from haven.service.schemas import PDQ_THRESHOLD_MAX, RESULTS_MAX

BASE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def flip(value: str, bits: int) -> str:
    """``value`` with its lowest ``bits`` bits inverted (Hamming distance ``bits``)."""
    return f"{int(value, 16) ^ ((1 << bits) - 1):064x}"


@pytest.fixture(scope="module")
def near_bank(live):  # type: ignore[no-untyped-def]
    """A bank holding BASE at distances 1, 3, 5, 7, 9."""
    wait_ready(live.url)
    with live.client(live.writer) as c:
        assert c.post("/v1/banks", json={"name": "near"}).status_code == 201
        entries = [{"signal": "pdq", "value": flip(BASE, d)} for d in (9, 3, 7, 1, 5)]
        assert c.post("/v1/banks/near/entries", json={"entries": entries}).status_code == 201
    with live.client(live.match) as c:  # hot update reaches the index
        deadline = time.monotonic() + 5
        while len(c.post("/v1/match/hashes", json={"pdq": BASE}).json()["matches"]) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    return live


@pytest.mark.parametrize("threshold", [PDQ_THRESHOLD_MAX + 1, 128, 256])
def test_threshold_above_the_cap_is_refused(near_bank,  # type: ignore[no-untyped-def]
                                             threshold: int) -> None:
    with near_bank.client(near_bank.match) as c:
        for r in (c.post("/v1/match/hashes", json={"pdq": BASE, "threshold": threshold}),
                  c.post("/v1/match/hashes/batch", json={"items": [{"pdq": BASE, "threshold": threshold}]}),
                  c.post("/v1/match/url",
                         json={"url": "http://example.invalid/x.jpg", "threshold": threshold}),
                  c.post("/v1/match", data={"threshold": str(threshold)},
                         files={"file": ("x.jpg", b"not read", "image/jpeg")})):
            assert r.status_code == 422, r.text
            assert "threshold" in r.json()["message"]
        ok = c.post("/v1/match/hashes", json={"pdq": BASE, "threshold": PDQ_THRESHOLD_MAX})
        assert ok.status_code == 200 and len(ok.json()["matches"]) == 5


def test_limit_caps_results_nearest_first(near_bank) -> None:  # type: ignore[no-untyped-def]
    with near_bank.client(near_bank.match) as c:
        full = c.post("/v1/match/hashes", json={"pdq": BASE}).json()
        assert [m["distance"] for m in full["matches"]] == [1, 3, 5, 7, 9] and full["limit_reached"] is False
        two = c.post("/v1/match/hashes", json={"pdq": BASE, "limit": 2}).json()
        assert [m["distance"] for m in two["matches"]] == [1, 3] and two["limit_reached"] is True
        assert two["matched"] is True
        five = c.post("/v1/match/hashes", json={"pdq": BASE, "limit": 5}).json()
        assert len(five["matches"]) == 5 and five["limit_reached"] is False
        items = [{"pdq": BASE, "limit": 1}, {"pdq": BASE}]
        batch = c.post("/v1/match/hashes/batch", json={"items": items}).json()
        assert [len(r["matches"]) for r in batch["results"]] == [1, 5]
        assert [r["limit_reached"] for r in batch["results"]] == [True, False]
        for bad in (0, RESULTS_MAX + 1):
            assert c.post("/v1/match/hashes", json={"pdq": BASE, "limit": bad}).status_code == 422


def test_wide_queries_run_off_the_event_loop(near_bank,  # type: ignore[no-untyped-def]
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    backend = near_bank.app.state.haven.backend
    seen: list[tuple[int | None, str]] = []
    real = backend.match_hashes

    def recording(hashes, threshold=None):  # type: ignore[no-untyped-def]
        seen.append((threshold, threading.current_thread().name))
        return real(hashes, threshold)

    monkeypatch.setattr(backend, "match_hashes", recording)
    with near_bank.client(near_bank.match) as c:
        for t in (10, PDQ_THRESHOLD_MAX):
            assert c.post("/v1/match/hashes", json={"pdq": BASE, "threshold": t}).status_code == 200
    (narrow, narrow_thread), (wide, wide_thread) = seen
    assert narrow == 10 and not narrow_thread.startswith("AnyIO worker thread")  # cheap: on the loop
    assert wide == PDQ_THRESHOLD_MAX and wide_thread.startswith("AnyIO worker thread")
