"""What the three HMA routers share: HMA's names for signals and content types, its error shape and
statuses, and the hashing of an upload or a URL into ``{hma signal type: value}``.

Facts from HMA 2.0 (facebook/ThreatExchange ``hasher-matcher-actioner/src/OpenMediaMatch``, at baefb4ed):
errors are ``{"message": …}``; bad input is 400; a content type ("photo", "video") picks the signal
types hashed; a multipart upload names its content type as the file's field name.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from haven.errors import ConflictError, InputError
from haven.hashing import HashResult
from haven.service.errors import SHAPES, ErrorShape
from haven.service.routes.hashing import discard, hash_in_thread, save_upload
from haven.service.state import ServiceState
from haven.signals import Input, aliases, get_signal

PREFIX = "/hma"
# HMA answers bad input (an invalid hash, a bad metadata object) with 400 and "Bank already exists" with 403.
SHAPES[f"{PREFIX}/"] = ErrorShape(body=lambda body: {"message": body["message"]},
                                  status={InputError: 400, ConflictError: 403})

#: HMA's content types and the inputs of the signals each is hashed with (a video's MD5 is its bytes').
CONTENT_TYPES: dict[str, tuple[Input, ...]] = {"photo": (Input.IMAGE,), "video": (Input.VIDEO, Input.BYTES)}


def abort(status: int, message: str) -> HTTPException:
    """An error in HMA's shape (raise it)."""
    return HTTPException(status_code=status, detail=message)


async def json_body(request: Request) -> Any:
    """The request's JSON (400 in HMA's shape when the body is not JSON)."""
    try:
        return await request.json()
    except ValueError:
        raise abort(400, "the body is not valid JSON") from None


def signal_types() -> dict[str, str]:
    """``{HMA signal type: Haven signal}`` from the registry's aliases (``pdq``, ``video_md5``, ``vpdq``)."""
    return aliases("hma")


def haven_signal(hma_type: str) -> str:
    """The Haven signal for an HMA signal type (400 in HMA's words when there is none)."""
    try:
        return signal_types()[hma_type]
    except KeyError:
        raise abort(400, f"No such SignalType '{hma_type}'") from None


def external(signal: str, value: str) -> str:
    """A Haven value as HMA writes it (vPDQ: python-threatexchange's frame list)."""
    return get_signal(signal).to_external("hma", value)


def wanted_types(content_type: str, types: str | None) -> dict[str, str]:
    """The HMA signal types a content type is hashed with, narrowed to ``types`` (comma-separated)."""
    inputs = CONTENT_TYPES.get(content_type)
    if inputs is None:
        raise abort(400, f"no such content_type: '{content_type}'")
    enabled = {t: s for t, s in signal_types().items() if get_signal(s).input in inputs}
    if types is None:
        return enabled
    chosen: dict[str, str] = {}
    for name in (t.strip() for t in types.split(",")):
        if not name:
            continue
        if name not in enabled:
            raise abort(400, f"signal type '{name}' doesn't exist or is disabled")
        chosen[name] = enabled[name]
    if not chosen:
        raise abort(400, "empty signal type selection")
    return chosen


def hma_hashes(result: HashResult, wanted: dict[str, str]) -> dict[str, str]:
    """``{HMA signal type: value}`` of a hashed file, for the wanted types it has a value of."""
    return {t: external(s, result.hashes[s]) for t, s in wanted.items() if s in result.hashes}


def url_content_type(header: str | None, override: str | None) -> str:
    """The content type of fetched media: the caller's, else from the response's Content-Type."""
    if override:
        return override
    kind = (header or "").lower()
    if kind.startswith("image"):
        return "photo"
    if kind.startswith("video"):
        return "video"
    raise abort(400, f"unsupported url ContentType: '{header or ''}', if you know the expected type, "
                     "provide it with the content_type query param")


async def hash_url(state: ServiceState, url: str, content_type: str | None,
                   types: str | None) -> tuple[HashResult, dict[str, str]]:
    """Fetch ``url`` through the SSRF guard and hash it; the result and its HMA hashes."""
    fetched = await state.fetch_pool.fetch(url)
    wanted = wanted_types(url_content_type(fetched.content_type, content_type), types)
    result = await hash_in_thread(fetched.data, url, state)
    return result, hma_hashes(result, wanted)


async def hash_form_upload(request: Request,
                           state: ServiceState) -> tuple[HashResult, dict[str, str], dict[str, str]]:
    """Hash the one file of a multipart body, whose field name is its content type (HMA's rule); the
    result, its HMA hashes, and the form's text fields."""
    form = await request.form()
    try:
        files = [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        if not files:
            raise abort(400, "Missing multipart/form-data file upload")
        if len(files) > 1:
            raise abort(400, "Only one file allowed per request")
        content_type, upload = files[0]
        wanted = wanted_types(content_type, None)
        path = await save_upload(upload, state.settings)  # type: ignore[arg-type]
    finally:
        await form.close()
    try:
        result = await hash_in_thread(path, upload.filename or "upload", state)
    finally:
        discard(path)
    return result, hma_hashes(result, wanted), fields
