"""Bank and entry management: create, list, show, enable/disable, delete, add/remove entries, import."""

from __future__ import annotations

import os
import tempfile
from dataclasses import fields
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from haven.auth.keys import ApiKey
from haven.service.backend import MatchBackend
from haven.service.jsonbody import OffLoopJSONRoute
from haven.service.routes.hashing import read_upload
from haven.service.schemas import BANK_NAME, ENTRY_ID_MAX, ERRORS, BankIn, BankPatch, EntriesAdded, EntriesIn
from haven.service.state import get_backend, get_state, require

router = APIRouter(prefix="/v1", tags=["banks"], route_class=OffLoopJSONRoute)
# Reading banks is open to matchers and bank writers; changing them needs banks:write.
BankName = Annotated[str, Path(max_length=100, pattern=BANK_NAME)]
_READ, _WRITE = require(("match", "banks:write")), require("banks:write")


def _actor(key: ApiKey) -> str:
    return f"api:{key.id}:{key.name}"


@router.get("/banks", summary="List banks", responses=ERRORS)
def list_banks(_k: ApiKey = Depends(_READ), backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    return {"banks": [b.to_dict() for b in backend.store.list_banks()]}


@router.post("/banks", summary="Create a bank", status_code=201, responses=ERRORS)
def create_bank(body: BankIn, key: ApiKey = Depends(_WRITE),
                backend: MatchBackend = Depends(get_backend)) -> dict[str, Any]:
    bank = backend.store.create_bank(body.name, source=body.source, description=body.description,
                                     thresholds=body.thresholds, actor=_actor(key))
    return bank.to_dict()  # type: ignore[no-any-return]


@router.get("/banks/{name}", summary="Show a bank with its entry counts and imports", responses=ERRORS)
def get_bank(
    name: BankName, _k: ApiKey = Depends(_READ), backend: MatchBackend = Depends(get_backend)
) -> dict[str, Any]:
    out: dict[str, Any] = backend.store.get_bank(name).to_dict()
    out.update(backend.store.bank_stats(name))
    return out


@router.patch("/banks/{name}", summary="Enable or disable a bank", responses=ERRORS)
def patch_bank(
    name: BankName,
    body: BankPatch,
    key: ApiKey = Depends(_WRITE),
    backend: MatchBackend = Depends(get_backend),
) -> dict[str, Any]:
    return backend.store.set_enabled(name, body.enabled, actor=_actor(key)).to_dict()  # type: ignore[no-any-return]


@router.delete(
    "/banks/{name}", summary="Delete a bank and all its entries", status_code=204, responses=ERRORS
)
def delete_bank(
    name: BankName, key: ApiKey = Depends(_WRITE), backend: MatchBackend = Depends(get_backend)
) -> None:
    backend.store.delete_bank(name, actor=_actor(key))


@router.post(
    "/banks/{name}/entries",
    summary="Add hash entries to a bank",
    status_code=201,
    response_model=EntriesAdded,
    responses=ERRORS,
)
def add_entries(
    name: BankName,
    body: EntriesIn,
    key: ApiKey = Depends(_WRITE),
    backend: MatchBackend = Depends(get_backend),
) -> dict[str, Any]:
    from haven.banks.types import EntryIn as CoreEntryIn

    allowed = {f.name for f in fields(CoreEntryIn)}
    entries = [CoreEntryIn(**{k: v for k, v in e.model_dump().items() if k in allowed}) for e in body.entries]
    done = backend.store.add_entries_detail(name, entries, actor=_actor(key), force=body.force)
    return {"ids": [i for i, _ in done], "added": sum(new for _, new in done)}


@router.get("/entries/{entry_id}", summary="Show one bank entry", responses=ERRORS)
def get_entry(
    entry_id: int = Path(..., ge=1, le=ENTRY_ID_MAX),
    _k: ApiKey = Depends(_READ),
    backend: MatchBackend = Depends(get_backend),
) -> dict[str, Any]:
    return backend.store.get_entry(entry_id).to_dict()  # type: ignore[no-any-return]


@router.delete("/entries/{entry_id}", summary="Remove one bank entry", status_code=204, responses=ERRORS)
def remove_entry(
    entry_id: int = Path(..., ge=1, le=ENTRY_ID_MAX),
    key: ApiKey = Depends(_WRITE),
    backend: MatchBackend = Depends(get_backend),
) -> None:
    backend.store.remove_entry(entry_id, actor=_actor(key))


@router.post(
    "/banks/{name}/import",
    summary="Import a hash-list file (csv, pytx, vics, … as `haven bank import`)",
    responses=ERRORS,
)
async def import_entries(
    name: BankName,
    request: Request,
    file: UploadFile = File(...),
    format: str | None = Form(None, max_length=16, description="file format (default: guess)"),
    key: ApiKey = Depends(_WRITE),
    backend: MatchBackend = Depends(get_backend),
) -> Any:
    data = await read_upload(file, get_state(request).settings)
    filename = os.path.basename(file.filename or "") or "upload"
    suffix = os.path.splitext(filename)[1][:16]

    def work() -> Any:
        # The importer streams from a path; a private temp file keeps one code path for CLI and API.
        fd, path = tempfile.mkstemp(prefix="haven-import-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            # Named by the upload's file name: errors and the import log never show the server's temp path.
            result = backend.store.import_file(name, path, format, actor=_actor(key), label=filename)
            return result.to_dict() if hasattr(result, "to_dict") else result
        finally:
            os.unlink(path)

    return await run_in_threadpool(work)
