"""HMA's matching API (``/hma/m``): raw look-up, look-up by hash, URL or upload, index status, compare.

A look-up is the native one (``MatchBackend.match_hashes``: the same ``Matcher``, banks, thresholds,
``disable_until_ts``); this module only reads HMA's parameters and writes HMA's objects: content ids
(``haven.banks.content``), distances as strings, matches grouped by bank.
"""

from __future__ import annotations

import random
import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haven.auth.keys import ApiKey
from haven.banks.content import content_id
from haven.errors import HavenError
from haven.service.backend import MatchBackend
from haven.service.routes.hma.common import (
    PREFIX,
    abort,
    hash_form_upload,
    hash_url,
    haven_signal,
    json_body,
    signal_types,
)
from haven.service.state import get_backend, get_state, require
from haven.signals import LookupKind, get_signal

router = APIRouter(prefix=f"{PREFIX}/m", tags=["HMA: matching"])
_MATCH = require("match")

BANKS_TEXT = "comma-separated bank names to search (default: all)"


def _banks(banks: str | None) -> set[str] | None:
    return set(banks.split(",")) if banks else None


def _find(backend: MatchBackend, hma_type: str, value: str, coin: float | None,
          banks: set[str] | None) -> list[Any]:
    """The native look-up of one HMA signal, restricted to ``banks`` (400 for an invalid value)."""
    signal = haven_signal(hma_type)
    try:
        value = get_signal(signal).validate(value)
    except HavenError as exc:
        raise abort(400, f"invalid signal: {exc.message}") from None
    matches = backend.match_hashes({signal: value}, coin=coin)
    return [m for m in matches if banks is None or m.bank in banks]


def _by_content(matches: list[Any]) -> list[tuple[int, Any]]:
    """One ``(content id, match)`` per content, nearest first."""
    seen: dict[int, Any] = {}
    for m in matches:
        seen.setdefault(content_id(m.entry_id, m.item), m)
    return list(seen.items())


def _grouped(matches: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """HMA's ``{bank: [{"bank_content_id", "distance"}]}``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for cid, m in _by_content(matches):
        out.setdefault(m.bank, []).append({"bank_content_id": cid, "distance": str(m.distance)})
    return out


def _coin(seed: str | None, bypass: bool) -> float:
    """HMA's draw for a look-up: seeded by the caller's ``seed`` for a repeatable answer; 0 with
    ``bypass_coinflip`` (every enabled bank)."""
    return 0.0 if bypass else random.Random(seed).random()


async def _run(backend: MatchBackend, hma_type: str, work: Any) -> Any:
    """Run a look-up on the event loop when it is an in-memory query of the cheap kind (as the native
    hot path does), else in the thread pool."""
    signal = get_signal(haven_signal(hma_type))
    if signal.lookup is LookupKind.DISTANCE and backend.cheap(None):
        return work()
    return await run_in_threadpool(work)


def raw_lookup_payload(backend: MatchBackend, signal_type: str, signal: str, banks: str | None,
                       include_distance: bool) -> dict[str, Any]:
    """HMA's raw look-up answer (also served by the lean path, ``haven.service.fastpath``)."""
    found = _by_content(_find(backend, signal_type, signal, None, _banks(banks)))
    if include_distance:
        return {"matches": [{"bank_content_id": cid, "distance": str(m.distance)} for cid, m in found]}
    return {"matches": [cid for cid, _ in found]}


@router.get("/raw_lookup", summary="Content ids whose signal matches (HMA)")
async def raw_lookup(request: Request, signal_type: str = Query(..., max_length=64),
                     signal: str = Query(..., max_length=2_000_000), banks: str | None = Query(None),
                     include_distance: bool = Query(False), _k: ApiKey = Depends(_MATCH),
                     backend: MatchBackend = Depends(get_backend)) -> JSONResponse:
    return JSONResponse(await _run(backend, signal_type, lambda: raw_lookup_payload(
        backend, signal_type, signal, banks, include_distance)))


@router.get("/lookup", summary="Matches by bank for a hash, or for the media at a URL (HMA)")
async def lookup_get(request: Request, url: str | None = Query(None, max_length=8192),
                     content_type: str | None = Query(None), types: str | None = Query(None),
                     signal: str | None = Query(None, max_length=2_000_000),
                     signal_type: str | None = Query(None, max_length=64), banks: str | None = Query(None),
                     seed: str | None = Query(None, max_length=200), bypass_coinflip: bool = Query(False),
                     _k: ApiKey = Depends(_MATCH),
                     backend: MatchBackend = Depends(get_backend)) -> JSONResponse:
    wanted, coin = _banks(banks), _coin(seed, bypass_coinflip)
    if not url:
        if not signal or not signal_type:
            raise abort(400, "Either url or both signal and signal_type are required")
        hma_type, value = signal_type, signal
        return JSONResponse(await _run(backend, hma_type,
                                       lambda: _grouped(_find(backend, hma_type, value, coin, wanted))))
    _, hashes = await hash_url(get_state(request), url, content_type, types)
    out = await run_in_threadpool(
        lambda: {t: _grouped(_find(backend, t, v, coin, wanted)) for t, v in hashes.items()})
    return JSONResponse(out.get(signal_type, {}) if signal_type is not None else out)


@router.post("/lookup", summary="Matches by signal type and bank for an uploaded file (HMA)")
async def lookup_post(request: Request, banks: str | None = Query(None),
                      seed: str | None = Query(None, max_length=200), bypass_coinflip: bool = Query(False),
                      _k: ApiKey = Depends(_MATCH),
                      backend: MatchBackend = Depends(get_backend)) -> JSONResponse:
    wanted, coin = _banks(banks), _coin(seed, bypass_coinflip)
    _, hashes, _form = await hash_form_upload(request, get_state(request))
    out = await run_in_threadpool(
        lambda: {t: _grouped(_find(backend, t, v, coin, wanted)) for t, v in hashes.items()})
    return JSONResponse(out)


@router.get("/index/status", summary="Whether each signal type's index is loaded, and its size (HMA)")
async def index_status(signal_type: str | None = Query(None, max_length=64), _k: ApiKey = Depends(_MATCH),
                       backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    types = signal_types()
    if signal_type is not None:
        if signal_type not in types:
            raise abort(400, f"No such signal type '{signal_type}'")
        types = {signal_type: types[signal_type]}
    if not backend.ready:
        return {t: {"present": False, "built_to": -1, "size": 0} for t in types}
    # size: what the in-memory index holds now; an exact signal (no index: the database's digest index)
    # reports its active entries as last counted (recounted within seconds of a change).
    sizes = backend.coverage().per_signal()
    for per_signal in backend.matcher.stats()["banks"].values():
        for signal in per_signal:
            sizes[signal] = 0
    for per_signal in backend.matcher.stats()["banks"].values():
        for signal, n in per_signal.items():
            sizes[signal] += n
    # built_to: when the matcher last caught up with the change log (HMA: its newest indexed item's time).
    built_to = int(time.time() - (time.monotonic() - backend.last_refresh))
    return {t: {"present": True, "built_to": built_to, "size": sizes.get(s, 0)} for t, s in types.items()}


@router.post("/compare", summary="Distance between two values of a signal type (HMA)")
async def compare(request: Request, _k: ApiKey = Depends(_MATCH)) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise abort(400, "Request input was not a dict")
    out: dict[str, Any] = {}
    for hma_type, pair in body.items():
        if not isinstance(pair, list):
            raise abort(400, f"Comparison hashes for {hma_type} was not a list")
        if len(pair) != 2:
            raise abort(400, "Comparison hash list length must be exactly 2")
        signal = get_signal(haven_signal(hma_type))
        try:
            left, right = (signal.validate(str(v)) for v in pair)
            distance = signal.distance(left, right)
        except HavenError as exc:  # the signal's own words for a bad value
            raise abort(400, f"Invalid {hma_type} hash: {exc}") from None
        out[hma_type] = [distance <= signal.default_threshold, {"distance": distance}]
    return out

