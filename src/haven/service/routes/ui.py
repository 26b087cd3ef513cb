"""A small server-rendered web UI at ``/ui`` for platform staff: list banks, match an upload (blurred preview
only), add a hash. People sign in through ``haven.auth`` (realm ``staff``): username, password and, for
leads and admins, a TOTP code. Pages receive the signed-in ``Actor``; every form carries the session's CSRF
token and is Origin-checked.

Who may do what: any staff role (reviewer, lead, admin) views banks and matches uploads; adding a hash to a
bank changes what every platform matches, so it needs ``lead`` or ``admin``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from haven.auth.actor import Actor
from haven.auth.web import WebAuth
from haven.errors import StorageError
from haven.media.preview import blurred_preview, data_url
from haven.service.routes.hashing import decode_in_thread, hash_in_thread, read_upload
from haven.service.state import get_state
from haven.signals import signal_names

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
VIEW_ROLES = ("reviewer", "lead", "admin")
WRITE_ROLES = ("lead", "admin")

web = WebAuth(realm="staff", prefix="/ui", template_dirs=[UI_DIR / "templates"], title="Haven")
router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(web.csrf)])


def mount_static(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=str(UI_DIR / "static")), name="ui-static")


def _blurred_preview(data: bytes) -> str | None:
    """A small, heavily blurred JPEG thumbnail as a data URL: enough to orient, never the image itself (no
    preview is fine; the hash result still shows)."""
    jpeg = blurred_preview(data, side=160, radius=8)
    return data_url(jpeg) if jpeg is not None else None


@router.get("", response_class=HTMLResponse)
async def home(request: Request, actor: Actor = Depends(web.require(*VIEW_ROLES))) -> Response:
    state = get_state(request)
    banks = await run_in_threadpool(state.backend.store.list_banks) if state.backend is not None else []
    return await web.page(request, "home.html", banks=banks, signals=signal_names(),
                          can_write=actor.has_role(*WRITE_ROLES))


@router.post("/match", response_class=HTMLResponse)
async def match(request: Request, file: UploadFile = File(...),
                actor: Actor = Depends(web.require(*VIEW_ROLES))) -> Response:
    state = get_state(request)
    label = file.filename or "upload"
    data = await read_upload(file, state.settings)
    result = await hash_in_thread(data, label, state)
    matches = []
    if state.backend is not None:
        matches = await run_in_threadpool(state.backend.match_result, result, None)
    preview = await decode_in_thread(data, label, state, lambda: _blurred_preview(data))
    return await web.page(request, "result.html", result=result, matches=matches, preview=preview)


@router.post("/hashes", response_class=HTMLResponse)
async def add_hash(request: Request, bank: str = Form(..., max_length=200),
                   signal: str = Form(..., max_length=20), value: str = Form(..., max_length=200),
                   category: str = Form("", max_length=200),
                   actor: Actor = Depends(web.require(*WRITE_ROLES))) -> Response:
    state = get_state(request)
    if state.backend is None:
        raise StorageError("banks are not available")
    from haven.banks.types import EntryIn

    entry = EntryIn(signal=signal, value=value.strip(), category=category or None)
    ids = await run_in_threadpool(state.backend.store.add_entries, bank, [entry], actor=actor.label)
    return await web.page(request, "added.html", bank=bank, signal=signal, value=value.strip(), ids=ids)
