"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from haven.service import metrics
from haven.service.state import get_state, require

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers (no key needed)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable and index loaded, and how loaded this "
                               "worker is (no key needed)",
            responses={503: {"description": "not ready yet"}})
def readyz(request: Request) -> JSONResponse:
    state = get_state(request)
    checks: dict[str, str] = {}
    try:
        with state.keys.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = f"error: {exc.__class__.__name__}"
    backend = state.backend
    if backend is None:
        checks["index"] = "unavailable"
    elif backend.ready:
        checks["index"] = "ok"
    else:
        checks["index"] = f"error: {backend.load_error}" if backend.load_error else "loading"
    ok = all(v == "ok" for v in checks.values())
    # Saturation is reported, not failed on: a worker whose fetch slots are full still matches hashes,
    # and taking it out of rotation would only move the load to the next one.
    load = state.load()
    body: dict[str, Any] = {"status": "ready" if ok else "not_ready", "checks": checks, "load": load,
                            "saturated": sorted(name for name, v in load.items() if v["saturated"])}
    if backend is not None and backend.ready:
        # What a match searches now: counts only (no bank names: this route needs no key).
        cov = backend.coverage()
        body["searched"] = {"banks": len(cov.banks), "entries": cov.per_signal(), "seq": cov.seq}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (any valid key)",
    dependencies=[Depends(require(None))],
    response_class=Response,
    responses={401: {"description": "missing or unknown key"}, 429: {"description": "rate limited"}},
)
def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
