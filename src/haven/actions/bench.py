"""``haven bench actions``: upload matching with rules off against rules on (quarantine + webhook), in the
same run, on the same ``haven serve`` process.

Every upload is distinct content (the photos, downscaled to a typical upload size, each with its own
trailing bytes after the JPEG end marker: the same picture and PDQ, a new SHA-256), so with rules on
every request really records and queues a quarantine and a webhook — nothing is skipped as a repeat.

What is timed is the upload path: by default (``after``) no job worker runs while uploads are timed, so
the ratio is what recording and queueing the actions costs an upload, which is the claim of issue 14 (the
actions themselves run on the job queue, on whatever workers a deployment gives them). A ``haven worker``
then drains the queue, for a bounded time, and the bench counts what was done — every quarantine and
every webhook (signature checked) — so a run also shows that what was queued really happens.
``embedded`` and ``separate`` time the uploads with the actions running on the same cores at once (on a
small box that measures the sharing of the CPU between uploads and actions as much as the upload path).
"""

from __future__ import annotations

import base64
import io
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from haven.errors import UsageError

Log = Callable[[str], None]
SECRET = b"bench-webhook-secret"


def _variants(files: list[Path], count: int, *, side: int, tag: bytes) -> list[bytes]:
    """``count`` distinct uploads: downscaled photos, each with unique bytes after the end marker."""
    from PIL import Image

    bases = []
    for f in files:
        with Image.open(f) as src:
            im = src.convert("RGB")
            im.thumbnail((side, side))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
            bases.append(buf.getvalue())
    return [bases[i % len(bases)] + tag + i.to_bytes(4, "big") + secrets.token_bytes(8) for i in range(count)]


def _multipart(data: bytes, boundary: str) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="u.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


WORKER_MODES = ("embedded", "separate", "after")


def _start_worker(data: Path, log_file: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HAVEN_DATA_DIR": str(data), "HAVEN_DATABASE_URL": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "haven.cli.main", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )


def _combine(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Several phases of one kind as one: rate over their total time, the worst tail, summed statuses."""
    seconds = sum(p["seconds"] for p in phases)
    statuses: dict[str, int] = {}
    for p in phases:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    cpu = [p["server_cpu_ms_per_request"] for p in phases if p.get("server_cpu_ms_per_request") is not None]
    return {
        "requests": sum(p["requests"] for p in phases),
        "seconds": seconds,
        "rps": round(sum(p["requests"] for p in phases) / seconds, 1),
        "rps_each": [p["rps"] for p in phases],
        "p50_ms": round(sorted(p["p50_ms"] for p in phases)[len(phases) // 2], 2),
        "p99_ms": max(p["p99_ms"] for p in phases),
        "statuses": statuses,
        "server_cpu_ms_per_request": round(sum(cpu) / len(cpu), 3) if cpu else None,
    }


def run_actions_bench(
    *,
    photos: Path,
    max_photos: int,
    duration: float,
    concurrency: int,
    side: int,
    log: Log,
    worker: str = "after",
    rounds: int = 2,
    keep: Path | None = None,
    drain: float = 120.0,
) -> dict[str, Any]:
    """``worker``: ``after`` (no worker during the timed uploads: the upload path alone; a worker drains
    the queue afterwards), ``embedded`` (the service's own worker runs the actions during the uploads, as
    in ``make run``) or ``separate`` (a ``haven worker`` process beside it, on the same cores). ``drain``:
    the most seconds to wait, after the last phase, for the queue to empty (what is left is reported as
    pending); 0 waits not at all."""
    if worker not in WORKER_MODES:
        raise UsageError(f"--worker must be one of {', '.join(WORKER_MODES)}")
    import httpx

    from haven.actions.receiver import WebhookReceiver
    from haven.auth.keys import KeyStore
    from haven.banks import BankStore, EntryIn
    from haven.hashing import hash_bytes, iter_input_files
    from haven.service.bench import _free_port, _load, _start_server, _wait_ready, _worker_pids
    from haven.store.db import upgrade_database

    files = sorted(iter_input_files([photos]))[:max_photos]
    if not files:
        raise UsageError(f"no photos under {photos}")
    tmpdir = tempfile.TemporaryDirectory(prefix="haven-bench-actions-") if keep is None else None
    data = keep or Path(tmpdir.name)  # type: ignore[union-attr]
    data.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "photos": len(files),
        "side": side,
        "cpus": os.cpu_count(),
        "duration": duration,
        "concurrency": concurrency,
        "worker": worker,
        "rounds": rounds,
        "drain_limit_s": drain,
    }
    receiver = WebhookReceiver(SECRET).start()
    proc = worker_proc = None
    serve_log: Any = None
    key_env = {
        "HAVEN_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "HAVEN_EMBEDDED_WORKER": "1" if worker == "embedded" else "0",
    }
    old_env = {k: os.environ.get(k) for k in key_env}
    os.environ.update(key_env)  # the serve process inherits it (the key is never written anywhere)
    try:
        log(f"preparing uploads from {len(files)} photos (≤ {side} px)")
        off_bodies = _variants(files, max(200, int(duration * 100)), side=side, tag=b"off")
        url = f"sqlite:///{data / 'haven.db'}"
        upgrade_database(url)
        store = BankStore(url)
        store.create_bank("bench", source="haven bench actions")
        pdqs = {hash_bytes(b, "x", ("pdq",)).get("pdq") for b in off_bodies[: len(files)]}
        store.add_entries(
            "bench",
            [
                EntryIn(signal="pdq", value=v, category="A1", category_scheme="us-industry")
                for v in sorted(p for p in pdqs if p)
            ],
        )
        store.close()
        keys = KeyStore(url)
        _, secret = keys.create("bench", ["match", "admin"])
        keys.close()
        port = _free_port()
        serve_log = (data / "serve.log").open("ab")
        # The same master key for the service and the worker: the worker opens what the service sealed.
        proc = _start_server(data, port, 1, serve_log, master_key=key_env["HAVEN_MASTER_KEY"])
        _wait_ready(port, 1, proc)
        if worker == "separate":
            worker_proc = _start_worker(data, serve_log)
        pids = _worker_pids(proc.pid)
        boundary = "hvnbench" + secrets.token_hex(8)
        auth = {"Authorization": f"Bearer {secret}"}

        def phase(bodies: list[bytes]) -> dict[str, Any]:
            spec = {
                "host": "127.0.0.1",
                "port": port,
                "path": "/v1/match",
                "headers": auth,
                "content_type": f"multipart/form-data; boundary={boundary}",
                "bodies": [base64.b64encode(_multipart(b, boundary)).decode() for b in bodies],
                "concurrency": concurrency,
                "duration": duration,
                "warmup": 1.0,
            }
            return _load(spec, data, pids)

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as admin:
            rule = {
                "name": "bench",
                "when": {"banks": ["bench"]},
                "enabled": False,
                "actions": [
                    "quarantine",
                    {"type": "webhook", "url": receiver.url, "secret": SECRET.decode()},
                ],
            }
            r = admin.post("/v1/rules", json=rule)
            if r.status_code != 201:
                raise UsageError(f"could not add the bench rule: {r.text}")

            def switch(on: bool) -> None:
                admin.put("/v1/rules/bench", json={**rule, "enabled": on}).raise_for_status()
                time.sleep(1.2)  # every worker's rules cache (1 s)

            offs, ons, on_slices = [], [], []
            on_bodies: list[bytes] = []
            # Off and on alternate, so drift in what else the host runs falls on both alike.
            for n in range(rounds):
                log(
                    f"round {n + 1}/{rounds}: rules off, {duration:g} s of uploads, concurrency {concurrency}"
                )
                offs.append(phase(off_bodies))
                if not on_bodies:
                    # Enough distinct uploads that no "on" request repeats content (a repeat costs less: its
                    # actions were recorded the first time).
                    per = int(offs[0]["rps"] * (duration + 1.0) * 1.3) + 50
                    on_bodies = _variants(files, per * rounds, side=side, tag=b"on!")
                    on_slices = [on_bodies[i * per : (i + 1) * per] for i in range(rounds)]
                switch(True)
                log(f"round {n + 1}/{rounds}: rules on (quarantine + webhook), {duration:g} s of uploads")
                ons.append(phase(on_slices[n]))
                switch(False)
            sent = sum(p["requests"] for p in ons) * (duration + 1.0) / duration  # warm-ups ran actions too
            if worker == "after":
                worker_proc = _start_worker(data, serve_log)
            # Not timed as part of the ratio: the drain shows that the queued actions happen, at what rate.
            log(f"waiting (at most {drain:g} s) for the job queue to drain")
            drain0 = time.perf_counter()
            while True:
                pending = admin.get("/v1/actions/runs", params={"status": "pending", "limit": 1})
                waiting = pending.json()["runs"]
                if not waiting or time.perf_counter() - drain0 >= drain:
                    break
                time.sleep(0.5)
            drain_s = time.perf_counter() - drain0
            drained = None if waiting else drain_s
        off, on = _combine(offs), _combine(ons)
        from sqlalchemy import create_engine, text

        counter = create_engine(url)
        with counter.connect() as c:
            by_status: dict[str, int] = dict(
                c.execute(text("SELECT status, count(*) FROM action_runs GROUP BY status")).all()
            )
        counter.dispose()
        report["off"] = off
        report["on"] = on
        report["ratio_on_off"] = round(on["rps"] / off["rps"], 3) if off["rps"] else None
        report["slowdown_pct"] = round((1 - on["rps"] / off["rps"]) * 100, 1) if off["rps"] else None
        report["actions"] = {
            "uploads_with_rules": round(sent),
            "distinct_uploads": len(on_bodies),
            "done": by_status.get("done", 0),
            "dead": by_status.get("dead", 0),
            "pending": by_status.get("pending", 0),
            "webhooks_received": receiver.count,
            "signatures_ok": all(d.signature_ok for d in receiver.deliveries),
            "drained_after_s": round(drained, 1) if drained is not None else None,
            "drain_waited_s": round(drain_s, 1),
            "done_per_s": (
                # from the worker's start (its imports included) to the empty queue or the --drain limit
                round(by_status.get("done", 0) / drain_s, 1) if worker == "after" and drain > 0 else None
            ),
            "vault_blobs": sum(1 for p in (data / "vault").rglob("*.content")),
        }
        return report
    finally:
        if worker_proc is not None:
            worker_proc.terminate()
            try:
                worker_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker_proc.kill()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if serve_log is not None:
            serve_log.close()
        receiver.stop()
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if tmpdir is not None:
            tmpdir.cleanup()
