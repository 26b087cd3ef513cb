"""HMA's hashing API (``/hma/h``): the hashes of the media at a URL (fetched through the SSRF guard) or
of an upload, as ``{HMA signal type: value}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from haven.auth.keys import ApiKey
from haven.service.routes.hma.common import PREFIX, hash_form_upload, hash_url
from haven.service.state import get_state, require

router = APIRouter(prefix=f"{PREFIX}/h", tags=["HMA: hashing"])


@router.get("/hash", summary="Hash the media at a URL (HMA)")
async def hash_get(request: Request, url: str = Query(..., max_length=8192),
                   content_type: str | None = Query(None), types: str | None = Query(None),
                   _k: ApiKey = Depends(require("match"))) -> dict[str, Any]:
    _, hashes = await hash_url(get_state(request), url, content_type, types)
    return hashes


@router.post("/hash", summary="Hash an uploaded file; its field name is its content type (HMA)")
async def hash_post(request: Request, _k: ApiKey = Depends(require("match"))) -> dict[str, Any]:
    _, hashes, _form = await hash_form_upload(request, get_state(request))
    return hashes
