"""A small HTTP/1.1 keep-alive load generator on asyncio streams, run as its own process by
``haven bench service`` (``python -m haven.service.loadgen SPEC.json``) so it does not share a
Python interpreter with the server. Requests are pre-encoded; only status and Content-Length are
parsed, which keeps the client cheap enough to measure the server rather than itself.

SPEC: {"host", "port", "path", "headers": {...}, "bodies": [base64 …], "content_type",
       "concurrency", "duration", "warmup"}, or for GET requests {"method": "GET", "paths": [path?query …]}
       in place of path, bodies and content_type. Prints one JSON object with counts and latencies.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from typing import Any


def _requests(spec: dict[str, Any]) -> list[bytes]:
    if spec.get("method", "POST") == "GET":
        extra = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
        return [f"GET {path} HTTP/1.1\r\nHost: {spec['host']}:{spec['port']}\r\n{extra}\r\n".encode()
                for path in spec["paths"]]
    head = [f"POST {spec['path']} HTTP/1.1", f"Host: {spec['host']}:{spec['port']}",
            f"Content-Type: {spec['content_type']}"]
    head += [f"{k}: {v}" for k, v in spec.get("headers", {}).items()]
    out = []
    for b64 in spec["bodies"]:
        body = base64.b64decode(b64)
        out.append(("\r\n".join([*head, f"Content-Length: {len(body)}"]) + "\r\n\r\n").encode() + body)
    return out


async def _connection(spec: dict[str, Any], reqs: list[bytes], offset: int, start: float, warm_end: float,
                      end: float, lat: list[float], statuses: dict[int, int], sample: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
    i = offset
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            writer.write(reqs[i % len(reqs)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length) if length else b""
            t1 = time.perf_counter()
            if t0 >= warm_end:
                lat.append(t1 - t0)
                statuses[status] = statuses.get(status, 0) + 1
                if len(sample) < 3 and status != 200:
                    sample.append(body[:300])
    finally:
        writer.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the server for ``warmup + duration`` seconds; latencies of the measured part only."""
    reqs = _requests(spec)
    lat: list[float] = []
    statuses: dict[int, int] = {}
    sample: list[bytes] = []
    start = time.perf_counter()
    warm_end = start + spec.get("warmup", 1.0)
    end = warm_end + spec["duration"]
    n = spec["concurrency"]
    await asyncio.gather(*(_connection(spec, reqs, k * max(1, len(reqs) // n), start, warm_end, end, lat,
                                       statuses, sample) for k in range(n)))
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else float("nan")

    return {"requests": len(lat), "seconds": spec["duration"], "rps": round(len(lat) / spec["duration"], 1),
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "non_200_samples": [s.decode("utf-8", "replace") for s in sample],
            "concurrency": n}


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
