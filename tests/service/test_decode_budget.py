"""Bounded decode memory: concurrent near-limit images share the worker's decode budget, and the memory
comes back afterwards. Measured on a real ``haven serve`` process (its RSS and peak RSS) on loopback."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from service_live import (
    ServeProcess,
    proc_status,
    reset_peak_rss,
    serve_process,
    service_settings,
    start_service,
)

from haven.service.decoding import DEFAULT_BYTES_PER_PIXEL

MiB = 1024 * 1024
MAX_PIXELS = 16_000_000
BUDGET = 512 * MiB
#: What the process may grow by at its peak: the budget, plus room for request bodies, thread stacks and
#: the interpreter's own allocations.
PEAK_BOUND = BUDGET + 64 * MiB


def near_limit_png(side: int = 3990) -> bytes:
    """A 15.9-megapixel PNG of a few hundred kilobytes (blocks of random colour)."""
    assert side * side <= MAX_PIXELS
    blocks = np.random.default_rng(7).integers(0, 255, (side // 70 + 1, side // 70 + 1, 3), dtype=np.uint8)
    im = Image.fromarray(blocks).resize((side, side), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = {"HAVEN_MAX_UPLOAD_PIXELS": str(MAX_PIXELS), "HAVEN_DECODE_MEMORY": str(BUDGET)}
    with serve_process(tmp_path_factory.mktemp("decode") / "data", env=env) as svc:
        yield svc


def test_eight_concurrent_near_limit_images_stay_under_the_bound(served: ServeProcess) -> None:
    image = near_limit_png()
    cost = 3990 * 3990 * DEFAULT_BYTES_PER_PIXEL
    assert BUDGET // cost == 2  # the budget admits two of these at a time
    with served.client(served.match) as c:  # warm up: first decode, thread pool, imports
        assert c.post("/v1/hash", files={"file": ("warm.png", image, "image/png")}).status_code == 200
    time.sleep(0.5)
    before = proc_status(served.pid, "VmRSS")
    reset_peak_rss(served.pid)

    def upload(i: int) -> tuple[int, float]:
        with served.client(served.match) as c:
            started = time.perf_counter()
            r = c.post("/v1/hash", files={"file": (f"big-{i}.png", image, "image/png")})
            return r.status_code, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(upload, range(8)))
    elapsed = time.perf_counter() - started
    peak = proc_status(served.pid, "VmHWM") - before
    time.sleep(0.5)
    after = proc_status(served.pid, "VmRSS") - before
    print(f"8 concurrent 15.9 MP PNGs in {elapsed:.1f} s: peak RSS +{peak / MiB:.0f} MiB "
          f"(bound {PEAK_BOUND / MiB:.0f} MiB), after +{after / MiB:.0f} MiB")
    assert [s for s, _ in results] == [200] * 8, results
    assert peak < PEAK_BOUND, f"peak RSS grew by {peak / MiB:.0f} MiB"
    assert after < 64 * MiB, f"the process kept {after / MiB:.0f} MiB after the decodes"
    with served.client() as c:
        assert c.get("/readyz").json()["load"]["decode_memory"]["in_use"] == 0


def test_an_image_over_the_whole_budget_is_refused_from_its_header(tmp_path: Path) -> None:
    image = near_limit_png(2000)  # 4 MP: 64 MB to decode, over a 32 MiB budget
    server, live = start_service(service_settings(tmp_path, decode_memory=32 * MiB))
    with server, live.client(live.match) as c:
        r = c.post("/v1/hash", files={"file": ("big.png", image, "image/png")})
        assert r.status_code == 413 and r.json()["code"] == "decode_memory", r.text
        assert "HAVEN_DECODE_MEMORY" in r.json()["message"]
        small = io.BytesIO()
        Image.new("RGB", (200, 100), (9, 9, 9)).save(small, "PNG")
        ok = c.post("/v1/hash", files={"file": ("ok.png", small.getvalue(), "image/png")})
        assert ok.status_code == 200
    live.keys.close()
