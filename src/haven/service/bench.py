"""``haven bench service``: N stored PDQ hashes, a real ``haven serve`` process, and a load generator
in a second process over loopback; reports requests/s and p50/p99 for hash matching (the native
``POST /v1/match/hashes`` and HMA's ``GET /hma/m/raw_lookup`` on the same values) and for image-upload
matching, next to the CLI's own hashing rate on the same photos in the same run.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from haven.errors import UsageError

Log = Callable[[str], None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_random_pdq(store: Any, bank: str, n: int, *, log: Log, chunk: int = 200_000) -> float:
    """Insert ``n`` random PDQ entries with one bulk INSERT per chunk (no per-row Python objects)."""
    from sqlalchemy import text

    from haven.store.db import sqlite_time

    bank_id = store.get_bank(bank).id
    rng = np.random.default_rng(20261126)
    at = sqlite_time(datetime.now(UTC))
    started = time.perf_counter()
    done = 0
    sql = text("INSERT INTO bank_entries (bank_id, signal, value, created_at) VALUES (:b, 'pdq', :v, :t)")
    while done < n:
        k = min(chunk, n - done)
        raw = rng.integers(0, 256, size=(k, 32), dtype=np.uint8).tobytes().hex()
        rows = [{"b": bank_id, "v": raw[i * 64:(i + 1) * 64], "t": at} for i in range(k)]
        with store.engine.begin() as conn:
            conn.execute(sql, rows)
        done += k
        log(f"  seeded {done:,}/{n:,} ({done / (time.perf_counter() - started):,.0f} rows/s)")
    return time.perf_counter() - started


def _start_server(data: Path, port: int, workers: int, log_file: Any,
                  master_key: str | None = None) -> subprocess.Popen[bytes]:
    from haven.secrets import encode_key, new_key

    # A throw-away master key (unless the caller shares one with its own worker processes): the benchmark's
    # server keeps no secret, and must not touch the user's key file.
    env = {**os.environ, "HAVEN_DATA_DIR": str(data), "HAVEN_DATABASE_URL": "", "HAVEN_RATE_LIMIT": "0",
           "HAVEN_RECORD_MATCHES": "0", "HAVEN_MASTER_KEY": master_key or encode_key(new_key())}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cmd = [sys.executable, "-m", "haven.cli.main", "serve", "--port", str(port), "--workers", str(workers),
           "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log_file)


def _wait_ready(port: int, workers: int, proc: subprocess.Popen[bytes], timeout: float = 900) -> float:
    import httpx

    started = time.perf_counter()
    ready: set[str] = set()
    while len(ready) < workers:
        if proc.poll() is not None:
            raise UsageError("haven serve exited during start-up (see serve.log)")
        if time.perf_counter() - started > timeout:
            raise UsageError(f"service not ready after {timeout:.0f} s")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", headers={"Connection": "close"}, timeout=5)
            if r.status_code == 200:
                ready.add(r.headers.get("x-haven-worker", "?"))
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True).stdout
    return [parent, *(int(x) for x in out.split())]  # the parent serves too when --workers 1


def _load(spec: dict[str, Any], tmp: Path, pids: list[int] | None = None) -> dict[str, Any]:
    path = tmp / f"load-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(spec))
    cpu0 = cpu_seconds(pids or [])
    out = subprocess.run([sys.executable, "-m", "haven.service.loadgen", str(path)], capture_output=True,
                         text=True, timeout=spec["duration"] + spec.get("warmup", 1) + 120)
    cpu = cpu_seconds(pids or []) - cpu0
    if out.returncode != 0:
        raise UsageError(f"load generator failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    total = result["requests"] * (spec["duration"] + spec.get("warmup", 1.0)) / spec["duration"]
    # Server CPU per request (warm-up included in both terms): independent of what else the host runs.
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / total, 3) if total else None
    return result


def _multipart(name: str, data: bytes, boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + data + f"\r\n--{boundary}--\r\n".encode()


def compare_app_paths(data: Path, secret: str, *, n: int = 1000) -> dict[str, float]:
    """Per-request time of the lean single-PDQ path vs the plain FastAPI route, in-process (ASGI calls,
    no sockets), on the same queries and index, plus the matcher alone: the peer for ``fastpath.py``."""
    import asyncio

    from haven.config import Settings
    from haven.service.app import create_app
    from haven.service.fastpath import FastMatchMiddleware
    from haven.service.settings import ServiceSettings

    settings = ServiceSettings(
        base=Settings(data_dir=data), rate_limit=0, record_matches=False, migrate=False
    )
    lean, plain = create_app(settings), create_app(settings)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not cast(Any, FastMatchMiddleware)]
    bodies = [json.dumps({"pdq": secrets.token_hex(32)}).encode() for _ in range(n + 300)]
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {secret}".encode()),
    ]

    async def call(app: Any, body: bytes) -> bytes:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/match/hashes",
            "raw_path": b"/v1/match/hashes",
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "state": {},
        }
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise UsageError(f"in-process request failed: {sent}")
        return b"".join(m.get("body", b"") for m in sent[1:])

    async def main() -> dict[str, float]:
        for app in (lean, plain):
            app.state.haven.backend.start()
            while not app.state.haven.backend.ready:
                await asyncio.sleep(0.05)
        if await call(lean, bodies[0]) != await call(plain, bodies[0]):
            raise UsageError("the lean path and the FastAPI route answered differently")
        # Warm both (page in the mapped index), then alternate short rounds so that neither path is
        # favoured by what the host happens to be doing; report each path's median round.
        for app in (lean, plain):
            for b in bodies[:300]:
                await call(app, b)
        rounds: dict[str, list[float]] = {"lean_us": [], "fastapi_us": []}
        chunk = max(1, n // 10)
        for r in range(10):
            part = bodies[300 + r * chunk : 300 + (r + 1) * chunk] or bodies[:chunk]
            for name, app in (
                (("lean_us", lean), ("fastapi_us", plain))
                if r % 2 == 0
                else (("fastapi_us", plain), ("lean_us", lean))
            ):
                t0 = time.perf_counter()
                for b in part:
                    await call(app, b)
                rounds[name].append((time.perf_counter() - t0) / len(part) * 1e6)
        out: dict[str, float] = {k: round(sorted(v)[len(v) // 2], 1) for k, v in rounds.items()}
        backend = lean.state.haven.backend
        t0 = time.perf_counter()
        for b in bodies[300:]:
            backend.match_hashes(json.loads(b))
        out["matcher_us"] = round((time.perf_counter() - t0) / n * 1e6, 1)
        for app in (lean, plain):
            app.state.haven.backend.stop()
            app.state.haven.keys.close()
        out["fastapi_vs_lean"] = round(out["fastapi_us"] / out["lean_us"], 2)
        return out

    return asyncio.run(main())


def run_service_bench(
    *,
    n: int,
    duration: float,
    concurrency: int,
    upload_concurrency: int,
    workers: int,
    photos: Path,
    max_photos: int,
    log: Log,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Seed, serve, drive, measure; returns the report (also printed by the CLI)."""
    from haven.auth.keys import KeyStore
    from haven.banks import BankStore, EntryIn
    from haven.hashing import hash_many, iter_input_files
    from haven.matching import Matcher
    from haven.store.db import upgrade_database

    files = sorted(iter_input_files([photos]))[:max_photos]
    if not files:
        raise UsageError(f"no photos under {photos}")
    tmpdir = tempfile.TemporaryDirectory(prefix="haven-bench-service-") if keep is None else None
    data = keep or Path(tmpdir.name)  # type: ignore[union-attr]
    data.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"n": n, "workers": workers, "cpus": os.cpu_count(), "photos": len(files)}
    proc = None
    serve_log = None
    try:
        url = f"sqlite:///{data / 'haven.db'}"
        upgrade_database(url)
        store = BankStore(url)
        store.create_bank("bench", source="haven bench service (random PDQ)")
        log(f"seeding {n:,} random PDQ hashes …")
        report["seed_seconds"] = round(seed_random_pdq(store, "bench", n, log=log), 1)

        # The CLI's hashing rate on the same photos (all cores, threads), measured here while nothing else
        # runs.
        t0 = time.perf_counter()
        hashed = [r for r in hash_many(files, jobs=os.cpu_count() or 1) if not isinstance(r, Exception)]
        cli_rate = len(files) / (time.perf_counter() - t0)
        report["cli_hash_files_per_s"] = round(cli_rate, 1)
        # A tenth of the photos go into the bank so that upload matching has real hits to assemble.
        known = hashed[::10]
        store.add_entries(
            "bench",
            [EntryIn(signal="pdq", value=h.hashes["pdq"], category="bench") for h in known if h.get("pdq")],
            strict_category=False,  # a label, not a graded category: it only marks the bench's entries
        )

        log("building and saving the PDQ index (workers map it at start-up) …")
        t0 = time.perf_counter()
        matcher = Matcher(store, index_dir=data / "index", auto_refresh=None, load_saved=False)
        matcher.save_index()
        report["index_build_seconds"] = round(time.perf_counter() - t0, 1)
        # Peer for the HTTP numbers: the same kind of query straight into the Matcher, one thread, no HTTP.
        probe = [{"pdq": secrets.token_hex(32)} for _ in range(2000)]
        t0 = time.perf_counter()
        for q in probe:
            matcher.match_hashes(q)
        report["inprocess_match_per_s"] = round(len(probe) / (time.perf_counter() - t0), 1)
        del matcher
        keys = KeyStore(url)
        _, secret = keys.create("bench", ["match"], rate_limit=0)
        keys.close()
        store.close()
        log("comparing the lean path with the FastAPI route in-process …")
        report["app_paths"] = compare_app_paths(data, secret)

        port = _free_port()
        log(f"starting haven serve --workers {workers} …")
        serve_log = open(data / "serve.log", "wb")  # closed in finally
        proc = _start_server(data, port, workers, serve_log)
        report["startup_seconds"] = round(_wait_ready(port, workers, proc), 1)
        headers = {"Authorization": f"Bearer {secret}"}

        # Hash matching: 10 % near-duplicates of stored hashes (hits), 90 % random (misses).
        rng = np.random.default_rng(7)
        bodies, values = [], []
        for i in range(2000):
            if i % 10 == 0 and known:
                value = bytearray(bytes.fromhex(known[(i // 10) % len(known)].hashes["pdq"]))
                for bit in rng.choice(256, size=5, replace=False):
                    value[bit // 8] ^= 1 << (bit % 8)
                pdq = value.hex()
            else:
                pdq = secrets.token_hex(32)
            values.append(pdq)
            bodies.append(base64.b64encode(json.dumps({"pdq": pdq}).encode()).decode())
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "path": "/v1/match/hashes",
            "headers": headers,
            "content_type": "application/json",
            "bodies": bodies,
            "concurrency": concurrency,
            "duration": duration,
            "warmup": 2.0,
        }
        log(f"hash matching: {concurrency} connections for {duration:g} s …")
        pids = _worker_pids(proc.pid)
        report["hash_match"] = _load(spec, data, pids)
        # The same values through HMA's API (routes/hma): what a client written for HMA gets.
        hma_spec = {"host": "127.0.0.1", "port": port, "method": "GET", "headers": headers,
                    "paths": [f"/hma/m/raw_lookup?signal_type=pdq&signal={v}" for v in values],
                    "concurrency": concurrency, "duration": duration, "warmup": 2.0}
        log(f"hash matching through /hma/m/raw_lookup: {concurrency} connections for {duration:g} s …")
        report["hma_raw_lookup"] = _load(hma_spec, data, pids)
        report["hma_vs_native"] = round(report["hma_raw_lookup"]["rps"] / report["hash_match"]["rps"], 2)

        boundary = "havenbenchboundary7d1c"
        up = [base64.b64encode(_multipart(f.name, f.read_bytes(), boundary)).decode() for f in files]
        spec = {
            **spec,
            "path": "/v1/match",
            "content_type": f"multipart/form-data; boundary={boundary}",
            "bodies": up,
            "concurrency": upload_concurrency,
        }
        log(f"image-upload matching: {upload_concurrency} connections for {duration:g} s …")
        report["upload_match"] = _load(spec, data, pids)
        report["upload_vs_cli_hashing"] = round(report["upload_match"]["rps"] / cli_rate, 2)
        report["http_vs_inprocess_match"] = round(
            report["hash_match"]["rps"] / report["inprocess_match_per_s"], 2
        )
        rss = subprocess.run(
            ["ps", "-o", "rss=", "--ppid", str(proc.pid)], capture_output=True, text=True
        ).stdout
        report["worker_rss_mib"] = [round(int(x) / 1024) for x in rss.split()]
        load = os.getloadavg()
        report["host_load_avg_1m"] = round(load[0], 1)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if serve_log is not None:
            serve_log.close()
        if tmpdir is not None:
            tmpdir.cleanup()
    return report
