"""A small server-rendered web UI at ``/ui``: paste an API key, list banks, match an upload (blurred
preview only), add a hash. The key lives in an httponly, samesite=strict cookie (which also stops
cross-site form posts)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from haven.errors import HavenError
from haven.service.errors import status_for
from haven.service.keys import ApiKey
from haven.service.routes.hashing import hash_in_thread, read_upload
from haven.service.state import get_state
from haven.signals import signal_names

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
COOKIE = "haven_key"
templates = Jinja2Templates(directory=str(UI_DIR / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=str(UI_DIR / "static")), name="ui-static")


def _key(request: Request, scope: str | None = None) -> ApiKey:
    return get_state(request).check_key(request.cookies.get(COOKIE), scope)


def _page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, ctx, status_code=status)


def _error(request: Request, exc: HavenError) -> HTMLResponse:
    return _page(request, "error.html", status=status_for(exc), error=exc)


def _blurred_preview(data: bytes) -> str | None:
    """A small, heavily blurred JPEG thumbnail as a data URL: enough to orient, never the image itself."""
    from PIL import Image, ImageFilter

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (256, 256))
            im = im.convert("RGB")
            im.thumbnail((160, 160))
            im = im.filter(ImageFilter.GaussianBlur(radius=8))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=60)
    except Exception:  # noqa: BLE001 - no preview is fine; the hash result still shows
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


@router.get("", response_class=HTMLResponse)
def home(request: Request) -> Response:
    try:
        key = _key(request)
    except HavenError:
        return _page(request, "login.html")
    state = get_state(request)
    banks = state.backend.store.list_banks() if state.backend is not None else []
    return _page(request, "home.html", key=key, banks=banks, signals=signal_names())


@router.post("/login")
def login(request: Request, api_key: str = Form(...)) -> Response:
    try:
        get_state(request).check_key(api_key.strip(), None)
    except HavenError as exc:
        return _page(request, "login.html", status=401, error=exc)
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(COOKIE, api_key.strip(), httponly=True, samesite="strict", path="/ui",
                        secure=request.url.scheme == "https", max_age=8 * 3600)
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.post("/match", response_class=HTMLResponse)
async def match(request: Request, file: UploadFile = File(...)) -> Response:
    try:
        key = _key(request, "match")
        state = get_state(request)
        data = await read_upload(file, state.settings)
        result = await hash_in_thread(data, file.filename or "upload", state.settings)
        matches = []
        if state.backend is not None:
            matches = await run_in_threadpool(state.backend.match_result, result, None)
        preview = await run_in_threadpool(_blurred_preview, data)
    except HavenError as exc:
        return _error(request, exc)
    return _page(request, "result.html", key=key, result=result, matches=matches, preview=preview)


@router.post("/hashes", response_class=HTMLResponse)
def add_hash(request: Request, bank: str = Form(...), signal: str = Form(...), value: str = Form(...),
             category: str = Form("")) -> Response:
    try:
        key = _key(request, "banks:write")
        state = get_state(request)
        if state.backend is None:
            raise HavenError("banks are not available")
        from haven.banks.types import EntryIn

        ids = state.backend.store.add_entries(bank, [EntryIn(signal=signal, value=value.strip(),
                                                             category=category or None)],
                                              actor=f"ui:{key.id}:{key.name}")
    except HavenError as exc:
        return _error(request, exc)
    return _page(request, "added.html", key=key, bank=bank, signal=signal, value=value.strip(), ids=ids)
