"""HMA's curation API (``/hma/c``): banks and their contents, signal and content types.

Banks are Haven's banks (``BankStore``), contents are groups of Haven entries (``haven.banks.content``);
this module reads HMA's requests and writes HMA's objects. HMA's rules kept here: a new or renamed bank is
named ``UPPER_WITH_UNDERSCORE``; ``enabled`` is a ratio of 1 or 0; a note is at most 255 characters; a
``disable_until_ts`` is at most five years ahead.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from haven.auth.keys import ApiKey
from haven.banks import content as contents
from haven.banks.types import Bank, EntryIn
from haven.errors import NotFoundError
from haven.service.backend import MatchBackend
from haven.service.routes.hma.common import (
    CONTENT_TYPES,
    PREFIX,
    abort,
    external,
    hash_form_upload,
    hash_url,
    haven_signal,
    json_body,
    signal_types,
)
from haven.service.state import get_backend, get_state, require

router = APIRouter(prefix=f"{PREFIX}/c", tags=["HMA: curation"])
_READ, _WRITE = require(("match", "banks:write")), require("banks:write")
BankName = Annotated[str, Path(max_length=255)]
ContentId = Annotated[int, Path(ge=1, le=2**62)]
#: HMA's bank-name rule (``storage/postgres/database.py``), for banks made or renamed through /hma.
HMA_BANK_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
NOTE_MAX = 255


def _actor(key: ApiKey) -> str:
    return f"api:{key.id}:{key.name}"


def _config(bank: Bank) -> dict[str, Any]:
    """HMA's bank object; a disabled Haven bank has a ratio of 0."""
    return {"name": bank.name, "matching_enabled_ratio": bank.enabled_ratio if bank.enabled else 0.0}


def _check_name(name: str) -> None:
    if not HMA_BANK_NAME.fullmatch(name) or len(name) > 100:
        raise abort(400, "Bank names must be UPPER_WITH_UNDERSCORE")


def _bank(backend: MatchBackend, name: str) -> Bank:
    try:
        return backend.store.get_bank(name)
    except NotFoundError:
        raise abort(404, f"bank '{name}' not found") from None


def _ratio(value: Any) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise abort(400, f"Invalid float: '{value}'") from None
    if not 0.0 <= ratio <= 1.0:
        raise abort(400, "enabled_ratio must be 0.0-1.0")
    return ratio


class BankCreate(BaseModel):
    name: str
    enabled_ratio: Any = 1.0  # HMA's default; Coop sends it as a string
    enabled: bool | None = None


class BankUpdate(BaseModel):
    name: str | None = None
    enabled_ratio: Any = None
    enabled: bool | None = None


class Metadata(BaseModel):
    """HMA's user metadata of a content (``collab`` is HMA's own and is dropped, as HMA does)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    content_id: str | None = None
    content_uri: str | None = None
    json_data: dict[str, Any] | None = None

    @classmethod
    def read(cls, raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise abort(400, "metadata should be a json object")
        raw = {("json_data" if k == "json" else k): v for k, v in raw.items() if k != "collab"}
        try:
            meta = cls(**raw).model_dump(exclude_none=True)
        except ValidationError as exc:
            raise abort(400, f"Invalid metadata: {exc.errors()[0].get('msg', exc)}") from None
        if "json_data" in meta:
            meta["json"] = meta.pop("json_data")
        return meta or None


def _note(note: Any) -> str | None:
    if not note:
        return None
    if not isinstance(note, str):
        raise abort(400, "note should be a string")
    if len(note) > NOTE_MAX:
        raise abort(400, f"note must be at most {NOTE_MAX} characters")
    return note


# -- banks -------------------------------------------------------------------------------------------------


@router.get("/banks", summary="List banks (HMA)")
def banks_index(_k: ApiKey = Depends(_READ), backend: MatchBackend = Depends(get_backend)) -> list[Any]:
    return [_config(b) for b in backend.store.list_banks()]


@router.post("/banks", summary="Create a bank (HMA)", status_code=201)
def bank_create(body: BankCreate, key: ApiKey = Depends(_WRITE),
                backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    _check_name(body.name)
    if body.enabled_ratio is not None:
        ratio = _ratio(body.enabled_ratio)
    else:
        ratio = 1.0 if body.enabled is None or body.enabled else 0.0
    bank = backend.store.create_bank(body.name, enabled=ratio > 0, enabled_ratio=ratio, source="hma",
                                     actor=_actor(key))
    return _config(bank)


@router.get("/bank/{bank_name}", summary="Show a bank (HMA)")
def bank_show(bank_name: BankName, _k: ApiKey = Depends(_READ),
              backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    return _config(_bank(backend, bank_name))


@router.put("/bank/{bank_name}", summary="Rename a bank or change its enabled ratio (HMA)")
def bank_update(bank_name: BankName, body: BankUpdate, key: ApiKey = Depends(_WRITE),
                backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    bank = _bank(backend, bank_name)
    if body.name is not None and body.name != bank.name:
        _check_name(body.name)
    ratio: float | None = None
    if body.enabled is not None:
        ratio = 1.0 if body.enabled else 0.0
    if body.enabled_ratio is not None:
        ratio = _ratio(body.enabled_ratio)
    updated = backend.store.update_bank(bank.name, new_name=body.name, enabled_ratio=ratio,
                                        enabled=None if ratio is None else ratio > 0, actor=_actor(key))
    return _config(updated)


@router.delete("/bank/{bank_name}", summary="Delete a bank and its contents (HMA)")
def bank_delete(bank_name: BankName, key: ApiKey = Depends(_WRITE),
                backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    try:
        backend.store.delete_bank(bank_name, actor=_actor(key))
    except NotFoundError:
        pass  # HMA: deleting a bank that is not there succeeds
    return {"message": "Done"}


# -- contents ----------------------------------------------------------------------------------------------


def _add(backend: MatchBackend, key: ApiKey, bank: str, hashes: dict[str, str], *, note: str | None,
         metadata: dict[str, Any] | None, quality: dict[str, int], force: bool) -> dict[str, Any]:
    """Bank one content's signals (``{HMA type: value}``); HMA's reply ``{"id", "signals"}``."""
    if not hashes:
        raise abort(400, "No signals given")
    entries = []
    for hma_type, value in hashes.items():
        if not isinstance(value, str):
            raise abort(400, f"Invalid {hma_type} signal: not a string")
        signal = haven_signal(hma_type)
        entries.append(EntryIn(signal=signal, value=value, note=note, quality=quality.get(signal),
                               extra={"hma": {"metadata": metadata}} if metadata else None))
    content = contents.add_content(backend.store, bank, entries, actor=_actor(key), force=force)
    types = {s: t for t, s in signal_types().items()}
    return {"id": content.id,
            "signals": {types[s]: external(s, v) for s, v in content.values().items() if s in types}}


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object a request carries ({} when it carries none; a form is read by the upload)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return {}
    data = await json_body(request)
    if not isinstance(data, dict):
        raise abort(400, "this endpoint expects a json object payload")
    return data


@router.post("/bank/{bank_name}/signal", summary="Bank signal values as one content (HMA)")
async def bank_add_signals(bank_name: BankName, request: Request,
                           force: bool = Query(False, description="Haven: add a weak value anyway"),
                           key: ApiKey = Depends(_WRITE),
                           backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    data = await _body(request)
    await run_in_threadpool(_bank, backend, bank_name)
    note = _note(data.pop("note", None))
    return await run_in_threadpool(lambda: _add(backend, key, bank_name, data, note=note, metadata=None,
                                                quality={}, force=force))


@router.post("/bank/{bank_name}/content", summary="Bank the media at a URL or an upload (HMA)")
async def bank_add_content(bank_name: BankName, request: Request,
                           url: str | None = Query(None, max_length=8192),
                           content_type: str | None = Query(None), types: str | None = Query(None),
                           force: bool = Query(False, description="Haven: add a weak value anyway"),
                           key: ApiKey = Depends(_WRITE),
                           backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    await run_in_threadpool(_bank, backend, bank_name)
    state = get_state(request)
    data = await _body(request)
    raw_meta, raw_note = data.get("metadata"), data.get("note")
    if url:
        result, hashes = await hash_url(state, url, content_type, types)
    elif request.headers.get("content-type", "").startswith("multipart/form-data"):
        result, hashes, form = await hash_form_upload(request, state)
        if "metadata" in form:
            try:
                raw_meta = json.loads(str(form["metadata"]))
            except ValueError:
                raise abort(400, "metadata form field must be valid JSON") from None
        raw_note = form.get("note", raw_note)
    else:
        raise abort(400, "Neither `url` nor multipart file upload was received")
    metadata, note = Metadata.read(raw_meta), _note(raw_note)
    return await run_in_threadpool(lambda: _add(backend, key, bank_name, hashes, note=note, metadata=metadata,
                                                quality=dict(result.quality), force=force))


def _content(backend: MatchBackend, bank_name: str, content_id: int) -> contents.Content:
    _bank(backend, bank_name)
    try:
        return contents.get_content(backend.store, bank_name, content_id)
    except NotFoundError:
        raise abort(404, f"content '{content_id}' not found") from None


@router.get("/bank/{bank_name}/content/{content_id}", summary="Show one content (HMA)")
def bank_get_content(bank_name: BankName, content_id: ContentId, include_signals: str = Query("false"),
                     include_metadata: str = Query("true"), _k: ApiKey = Depends(_READ),
                     backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    content = _content(backend, bank_name, content_id)
    bank = _bank(backend, bank_name)
    out: dict[str, Any] = {"id": content.id, "disable_until_ts": content.disable_until_ts,
                           "original_media_uri": None, "bank": _config(bank)}
    if include_signals.lower() == "true":
        types = {s: t for t, s in signal_types().items()}
        signals = {types[s]: external(s, v) for s, v in content.values().items() if s in types}
        if signals:
            out["signals"] = signals
    if include_metadata.lower() == "true" and content.metadata:
        out["metadata"] = content.metadata
    if content.note is not None:
        out["note"] = content.note
    return out


def _five_years_ahead() -> int:
    return int((datetime.now() + timedelta(days=365 * 5)).timestamp())


def _whole(value: Any) -> int:
    if isinstance(value, bool):
        raise abort(400, f"Invalid int: '{value}'")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise abort(400, f"Invalid int: '{value}'") from None


@router.put("/bank/{bank_name}/content/{content_id}", summary="Disable or note a content (HMA)")
async def bank_update_content(bank_name: BankName, content_id: ContentId, request: Request,
                              key: ApiKey = Depends(_WRITE),
                              backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    data = await _body(request)
    content = await run_in_threadpool(_content, backend, bank_name, content_id)
    fields: dict[str, Any] = {}
    if "disable_until_ts" in data:
        ts = _whole(data["disable_until_ts"])
        if ts < 0:
            raise abort(400, "disable_until_ts must be a non-negative integer")
        if ts > _five_years_ahead():
            raise abort(400, "disable_until_ts must be less than 5 years in the future")
        fields["disable_until_ts"] = ts
    if "note" in data:
        fields["note"] = _note(data["note"])
    if fields:
        content = await run_in_threadpool(
            lambda: contents.update_content(backend.store, content, actor=_actor(key), **fields))
    bank = await run_in_threadpool(_bank, backend, bank_name)
    return {"id": content.id, "disable_until_ts": content.disable_until_ts, "collab_metadata": {},
            "original_media_uri": None, "bank": _config(bank), "user_metadata": content.metadata,
            "note": content.note}


@router.delete("/bank/{bank_name}/content/{content_id}", summary="Remove one content (HMA)")
def bank_delete_content(bank_name: BankName, content_id: ContentId, key: ApiKey = Depends(_WRITE),
                        backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    _bank(backend, bank_name)
    return {"deleted": contents.remove_content(backend.store, bank_name, content_id, actor=_actor(key))}


# -- configuration -----------------------------------------------------------------------------------------


@router.get("/signal_type", summary="Signal types (HMA names)")
def signal_type_index(_k: ApiKey = Depends(_READ)) -> list[dict[str, Any]]:
    return [{"name": t, "enabled_ratio": 1.0} for t in signal_types()]


@router.get("/content_type", summary="Content types (HMA names)")
def content_type_index(_k: ApiKey = Depends(_READ)) -> list[dict[str, Any]]:
    return [{"name": t, "enabled": True} for t in CONTENT_TYPES]

