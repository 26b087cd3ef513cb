"""Matching: an upload, hash values (single and batch), a URL; and look-up of a past result."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path as PathLike
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haven.auth.keys import ApiKey
from haven.errors import UsageError
from haven.matching.matcher import QUERY_DEFAULTS
from haven.service import metrics
from haven.service.backend import MatchBackend, match_payload
from haven.service.jsonbody import OffLoopJSONRoute
from haven.service.routes.hashing import discard, hash_in_thread, save_upload
from haven.service.schemas import (
    ERRORS,
    ID_TEXT,
    LIMIT_TEXT,
    PDQ_THRESHOLD_MAX,
    RESULTS_DEFAULT,
    RESULTS_MAX,
    THRESHOLD_TEXT,
    UPSCALED_TEXT,
    BatchResult,
    HashBatch,
    HashQuery,
    MatchRecord,
    MatchResult,
    UrlQuery,
    query_hashes,
)
from haven.service.state import ServiceState, get_backend, get_state, require
from haven.signals import LookupKind, get_signal, signal_names

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from haven.actions.engine import Verdict

router = APIRouter(prefix="/v1", tags=["matching"], route_class=OffLoopJSONRoute)


def _hashes(q: HashQuery) -> dict[str, str]:  # type: ignore[valid-type]
    values = query_hashes(q)
    if not values:
        raise UsageError(f"give at least one of {', '.join(signal_names())}")
    return values


def in_memory_only(q: HashQuery) -> bool:  # type: ignore[valid-type]
    """One value of an in-memory (distance) signal and nothing to record: answerable on the event loop."""
    values = query_hashes(q)
    return (len(values) == 1 and not q.content_id
            and get_signal(next(iter(values))).lookup is LookupKind.DISTANCE)


def _count(kind: str, matches: list[Any]) -> None:
    metrics.QUERIES.labels(kind).inc()
    for m in matches:
        metrics.MATCHES.labels(m.signal).inc()


def _record(
    state: ServiceState, content_id: str | None, kind: str, payload: dict[str, Any], key: ApiKey,
    conn: Connection | None = None,
) -> None:
    """Record the match when the service keeps records and it has a content id: in ``conn``'s transaction
    when given, else in one of its own."""
    if not (content_id and state.settings.record_matches):
        return
    if conn is None:
        state.records.save(content_id, kind, payload, key_id=key.id)
    else:
        state.records.save_in(conn, content_id, kind, payload, key_id=key.id)


def _run_rules(state: ServiceState, payload: dict[str, Any], kind: str, key: ApiKey, *,
               content: bytes | None = None, name: str | None = None, url: str | None = None) -> None:
    """Run the rules on a match (block / deterrence answered here, the rest queued), put the verdict in the
    response and record the match; a match that fires no rule gets no ``verdict``. When rules fire, the
    record is written in the rules' transaction: one commit per upload, as with no rules."""
    if state.runtime is None or not payload.get("matched"):
        _record(state, payload.get("content_id"), kind, payload, key)
        return
    from haven.actions.engine import match_event
    from haven.media.sniff import sniff

    context = {"kind": kind, "key_id": key.id, "received_at": datetime.now(UTC).isoformat()}
    if url:
        context["url"] = url
    event = match_event(payload, content=content, name=name, context=context,
                        content_type=sniff(content[:64]) if content else None)
    content_id = payload.get("content_id")

    def verdict_and_record(conn: Connection, verdict: Verdict) -> None:
        payload["verdict"] = verdict.to_dict()
        _record(state, content_id, kind, payload, key, conn)

    if state.runtime.actions.on_match(event, also=verdict_and_record) is None:
        _record(state, content_id, kind, payload, key)


def _match_one(state: ServiceState, backend: MatchBackend, q: HashQuery, key: ApiKey) -> dict[str, Any]:
    hashes = _hashes(q)
    matches = backend.match_hashes(hashes, threshold=q.threshold)
    _count("hashes", matches)
    payload = match_payload(hashes, matches, q.limit, backend.coverage())
    if q.content_id:
        payload["content_id"] = q.content_id
    _run_rules(state, payload, "hashes", key)
    return payload


@router.post(
    "/match/hashes", summary="Match hash values (one item)", response_model=MatchResult, responses=ERRORS
)
async def match_hashes(
    q: HashQuery,
    request: Request,
    key: ApiKey = Depends(require("match")),
    backend: MatchBackend = Depends(get_backend),
) -> JSONResponse:
    state = get_state(request)
    if in_memory_only(q) and backend.cheap(q.threshold) and not state.rules_active():
        # The hot path: an in-memory index query of well under a millisecond runs on the event loop,
        # which is cheaper than a thread-pool hop; a wider radius, or anything that reads or writes the
        # database, does not.
        return JSONResponse(_match_one(state, backend, q, key))
    return JSONResponse(await run_in_threadpool(_match_one, state, backend, q, key))


@router.post(
    "/match/hashes/batch",
    summary="Match up to 1000 items of hash values",
    response_model=BatchResult,
    responses=ERRORS,
)
def match_hashes_batch(
    batch: HashBatch,
    request: Request,
    key: ApiKey = Depends(require("match")),
    backend: MatchBackend = Depends(get_backend),
) -> JSONResponse:
    state = get_state(request)
    return JSONResponse({"results": [_match_one(state, backend, q, key) for q in batch.items]})


async def _match_bytes(request: Request, backend: MatchBackend, data: bytes | PathLike, label: str,
                       kind: str, threshold: int | None, limit: int, content_id: str | None, key: ApiKey,
                       extra: dict[str, Any] | None = None, upscaled: bool = False) -> dict[str, Any]:
    state = get_state(request)
    # The query-side defaults of `haven match` (haven eval: rotations, flips, no borders, equalised) are
    # looked up; the response shows the values the caller asked for (the upscaled ones), as before.
    result = await hash_in_thread(data, label, state, upscaled=upscaled, dihedral=QUERY_DEFAULTS.dihedral,
                                  robust=QUERY_DEFAULTS.robust)
    matches = await run_in_threadpool(backend.match_result, result, threshold)
    _count(kind, matches)
    shown = replace(result, variants={s: tuple(v for v in vs if v.fallback)
                                      for s, vs in result.variants.items()})
    payload = match_payload(shown.to_dict(), matches, limit, backend.coverage())
    payload["content_id"] = content_id or result.get("sha256")
    if extra:
        payload.update(extra)
    if payload["matched"] and state.runtime is not None:
        url = (extra or {}).get("url")

        def rules_then_record() -> None:  # one thread-pool hop for both
            # A saved upload is read for the actions (quarantine keeps its bytes) while it still exists.
            content = data.read_bytes() if isinstance(data, PathLike) else data
            _run_rules(state, payload, kind, key, content=content, name=label, url=url)

        await run_in_threadpool(rules_then_record)
    else:
        await run_in_threadpool(_record, state, payload["content_id"], kind, payload, key)
    return payload


@router.post("/match", summary="Match an uploaded image or video", response_model=MatchResult,
             responses=ERRORS)
async def match_upload(request: Request,
                       file: UploadFile = File(..., description="The image or video (streamed to a file)"),
                       threshold: int | None = Form(None, ge=0, le=PDQ_THRESHOLD_MAX,
                                                    description=THRESHOLD_TEXT),
                       limit: int = Form(RESULTS_DEFAULT, ge=1, le=RESULTS_MAX, description=LIMIT_TEXT),
                       content_id: str | None = Form(None, min_length=1, max_length=200, pattern=ID_TEXT),
                       upscaled: bool = Form(False, description=UPSCALED_TEXT),
                       key: ApiKey = Depends(require("match")),
                       backend: MatchBackend = Depends(get_backend)) -> JSONResponse:
    settings = get_state(request).settings
    path = await save_upload(file, settings)
    try:
        payload = await _match_bytes(request, backend, path, file.filename or "upload", "upload", threshold,
                                     limit, content_id, key, upscaled=upscaled)
    finally:
        discard(path)
    return JSONResponse(payload)


@router.post(
    "/match/url",
    summary="Fetch an image by URL (SSRF-guarded) and match it",
    response_model=MatchResult,
    responses={
        **ERRORS,
        502: {"description": "the remote server failed"},
        504: {"description": "the fetch timed out"},
    },
)
async def match_url(
    q: UrlQuery,
    request: Request,
    key: ApiKey = Depends(require("match")),
    backend: MatchBackend = Depends(get_backend),
) -> JSONResponse:
    state = get_state(request)
    fetched = await state.fetch_pool.fetch(q.url)
    payload = await _match_bytes(request, backend, fetched.data, q.url, "url", q.threshold, q.limit,
                                 q.content_id, key,
                                 extra={"url": q.url, "final_url": fetched.final_url}, upscaled=q.upscaled)
    return JSONResponse(payload)


@router.get("/matches/{content_id}", summary="Look up this key's latest recorded match for a content id",
            response_model=MatchRecord, responses=ERRORS)
def get_match(content_id: Annotated[str, Path(max_length=200, pattern=ID_TEXT)], request: Request,
              key: ApiKey = Depends(require("match"))) -> dict[str, Any]:
    return get_state(request).records.latest(content_id, key_id=key.id)
