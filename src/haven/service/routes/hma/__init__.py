"""HMA 2.0 (OpenMediaMatch)'s HTTP API under ``/hma``: clients written for HMA (ROOST Coop's) use Haven by
changing their base URL. A thin shell over the native core (``docs/hma.md`` lists each route and how it
differs): matching through ``MatchBackend``/``Matcher``, banks through ``BankStore``, contents through
``haven.banks.content``; Haven's API keys and scopes (``match`` for ``/m`` and ``/h``, ``banks:write`` to
change ``/c``), its SSRF guard for URLs and its upload limits.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from haven.auth.keys import ApiKey
from haven.service.routes.hma import curation, hashing, matching
from haven.service.routes.hma.common import PREFIX
from haven.service.state import get_state, require

router = APIRouter()
for _module in (matching, hashing, curation):
    router.include_router(_module.router)


@router.get(f"{PREFIX}/status", summary="Ready to match: I-AM-ALIVE, or 503 while the index loads (HMA)",
            tags=["HMA: status"], response_class=PlainTextResponse)
async def status(request: Request, _k: ApiKey = Depends(require(None))) -> PlainTextResponse:
    backend = get_state(request).backend
    if backend is None or not backend.ready:
        return PlainTextResponse("INDEX-NOT-LOADED", status_code=503)
    return PlainTextResponse("I-AM-ALIVE")


@router.get(f"{PREFIX}/status/live", summary="The process answers: I-AM-ALIVE (HMA)", tags=["HMA: status"],
            response_class=PlainTextResponse)
async def status_live(_k: ApiKey = Depends(require(None))) -> PlainTextResponse:
    return PlainTextResponse("I-AM-ALIVE")
