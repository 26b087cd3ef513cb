"""The service benchmark's parts: the load generator against a live server, and (slow) the whole bench."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from urllib.parse import urlsplit

import pytest
from service_live import PHOTOS, live, wait_ready


def test_loadgen_counts_what_the_server_answers(live) -> None:  # type: ignore[no-untyped-def]
    from haven.service.loadgen import run

    wait_ready(live.url)
    # A key of its own without the per-key rate limit (1,000/s by default): on a fast day the load
    # generator exceeds it, and 429s are not what this test counts.
    _, secret = live.keys.create("loadgen", ["match"], rate_limit=0)
    u = urlsplit(live.url)
    ok = base64.b64encode(json.dumps({"pdq": secrets.token_hex(32)}).encode()).decode()
    bad = base64.b64encode(b'{"pdq": "nope"}').decode()
    spec = {"host": u.hostname, "port": u.port, "path": "/v1/match/hashes",
            "headers": {"Authorization": f"Bearer {secret}"}, "content_type": "application/json",
            "bodies": [ok, ok, ok, bad], "concurrency": 2, "duration": 1.0, "warmup": 0.2}
    result = asyncio.run(run(spec))
    assert result["requests"] > 10
    assert set(result["statuses"]) == {"200", "422"}
    assert abs(result["statuses"]["200"] / result["requests"] - 0.75) < 0.1
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert "invalid_request" in result["non_200_samples"][0]


def test_loadgen_gets(live) -> None:  # type: ignore[no-untyped-def]
    """GET requests (the HMA scenario): every answer counted, a refused one among them."""
    from haven.service.loadgen import run

    wait_ready(live.url)
    _, secret = live.keys.create("loadgen-get", ["match"], rate_limit=0)
    u = urlsplit(live.url)
    ok = f"/hma/m/raw_lookup?signal_type=pdq&signal={secrets.token_hex(32)}"
    bad = "/hma/m/raw_lookup?signal_type=pdq&signal=nope"
    spec = {"host": u.hostname, "port": u.port, "method": "GET",
            "headers": {"Authorization": f"Bearer {secret}"}, "paths": [ok, ok, ok, bad], "concurrency": 2,
            "duration": 1.0, "warmup": 0.2}
    result = asyncio.run(run(spec))
    assert result["requests"] > 10 and set(result["statuses"]) == {"200", "400"}
    assert abs(result["statuses"]["200"] / result["requests"] - 0.75) < 0.1
    assert "message" in result["non_200_samples"][0]


@pytest.mark.slow
def test_bench_service_end_to_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from haven.service.bench import run_service_bench

    report = run_service_bench(n=5000, duration=2, concurrency=4, upload_concurrency=2, workers=2,
                               photos=PHOTOS, max_photos=10, log=lambda m: None, keep=tmp_path / "b")
    for scenario in ("hash_match", "hma_raw_lookup", "upload_match"):
        r = report[scenario]
        assert r["requests"] > 0 and set(r["statuses"]) == {"200"}, r
        assert r["server_cpu_ms_per_request"] > 0
    assert report["inprocess_match_per_s"] > 0 and report["cli_hash_files_per_s"] > 0
