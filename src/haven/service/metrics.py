"""Prometheus metrics. With ``--workers N`` the serve command sets ``PROMETHEUS_MULTIPROC_DIR`` so that
``/metrics`` on any worker reports the sum over all workers."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REQUESTS = Counter("haven_http_requests_total", "HTTP requests handled", ["method", "route", "status"])
LATENCY = Histogram("haven_http_request_seconds", "Time to answer an HTTP request", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
MATCHES = Counter("haven_matches_total", "Hash values that matched a bank entry", ["signal"])
QUERIES = Counter("haven_match_queries_total", "Match requests by kind", ["kind"])
REFRESHES = Counter("haven_index_refresh_total", "Index refreshes that applied changes")
REFRESH_CHANGES = Counter("haven_index_refresh_changes_total", "Bank changes applied by refreshes")
READY = Gauge("haven_ready", "1 when this worker's index is loaded", multiprocess_mode="livemin")


def render() -> tuple[bytes, str]:
    """The exposition text; aggregated over workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


#: Which worker answered, as a random name drawn when the worker starts: lets operators (and the hot-update
#: test) see how load spreads, without telling a client the worker's process id.
WORKER_ID = secrets.token_hex(4).encode()


class MetricsMiddleware:
    """Counts and times every request by route template (not raw path, to bound label cardinality)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*(message.get("headers") or []), (b"x-haven-worker", WORKER_ID)]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], name, str(status[0])).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)
