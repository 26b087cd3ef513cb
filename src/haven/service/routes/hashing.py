"""Hash an uploaded file: ``POST /v1/hash``. Uploads are streamed to a temporary file (a video need not
fit in memory), then hashed within the worker's decode memory budget and the upload time limit."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haven.errors import FileAccessError, ImageTooLargeError, InputError
from haven.hashing import HashResult, hash_bytes, hash_file
from haven.hashing.video import VideoLimits
from haven.service.decoding import decode_cost, give_back_memory
from haven.service.schemas import ERRORS, HashOut
from haven.service.settings import ServiceSettings
from haven.service.state import ServiceState, get_state, require

router = APIRouter(prefix="/v1", tags=["hashing"])
T = TypeVar("T")


async def read_upload(upload: UploadFile, settings: ServiceSettings) -> bytes:
    """The uploaded bytes, refusing empty and oversize files."""
    data = await upload.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise ImageTooLargeError(f"upload exceeds the {settings.max_upload_bytes} byte limit",
                                 path=upload.filename or "upload", code="too_large")
    if not data:
        raise FileAccessError("empty upload (0 bytes)", path=upload.filename or "upload", code="empty")
    return data


_CHUNK = 1024 * 1024


async def save_upload(upload: UploadFile, settings: ServiceSettings) -> Path:
    """The upload streamed to a temporary file, refusing empty and oversize files; the caller removes it
    (``discard``)."""
    label = upload.filename or "upload"
    fd, name = tempfile.mkstemp(prefix="haven-upload-")
    path = Path(name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise ImageTooLargeError(f"upload exceeds the {settings.max_upload_bytes} byte limit",
                                             path=label, code="too_large")
                out.write(chunk)
        if not size:
            raise FileAccessError("empty upload (0 bytes)", path=label, code="empty")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)


async def decode_in_thread(data: bytes | Path, label: str, state: ServiceState, work: Callable[[], T]) -> T:
    """Run ``work`` (which decodes ``data``: bytes, or a saved upload) in a thread, within the worker's
    decode memory budget and the upload time limit; the image or video header is read first to know what
    the decode will cost."""
    settings = state.settings
    started = time.monotonic()
    cost = await run_in_threadpool(decode_cost, data, label, settings.max_upload_pixels)

    def bounded() -> T:
        try:
            return work()
        finally:
            give_back_memory(cost)

    async with state.decode_budget.hold(cost, label=label, timeout=settings.upload_timeout):
        try:
            # A decode that has started is waited for (the thread cannot be stopped), so the budget is
            # held until its memory is really free.
            left = max(0.0, settings.upload_timeout - (time.monotonic() - started))
            return await asyncio.wait_for(run_in_threadpool(bounded), timeout=left)
        except TimeoutError:
            raise InputError(f"hashing took longer than {settings.upload_timeout:g} s (after "
                             f"{time.monotonic() - started:.1f} s)", path=label,
                             code="hash_timeout") from None


async def hash_in_thread(data: bytes | Path, label: str, state: ServiceState, *,
                         upscaled: bool = False, dihedral: bool = False, robust: bool = False) -> HashResult:
    """Hash an upload (bytes, or a saved upload) off the event loop (``decode_in_thread``); ``upscaled``:
    with a small image's upscaled PDQ values, hashing/ladder.py. A video's decoding stops itself at the
    upload time limit (the thread cannot be stopped from outside)."""
    settings = state.settings
    video = VideoLimits(max_pixels=settings.max_upload_pixels, max_wall_seconds=settings.upload_timeout)

    def work() -> HashResult:
        options = {"upscaled": upscaled, "dihedral": dihedral, "robust": robust,
                   "max_pixels": settings.max_upload_pixels,
                   "max_file_bytes": settings.max_upload_bytes, "video_limits": video}
        if isinstance(data, Path):
            result = hash_file(data, **options)  # type: ignore[arg-type]
            result.path = label
            return result
        return hash_bytes(data, label, **options)  # type: ignore[arg-type]

    return await decode_in_thread(data, label, state, work)


@router.post("/hash", summary="Hash an uploaded image or video (PDQ or vPDQ, MD5, SHA-1, SHA-256)",
             response_model=HashOut, responses=ERRORS)
async def hash_upload(request: Request, file: UploadFile = File(..., description="The image or video"),
                      _key=Depends(require("match"))) -> JSONResponse:  # type: ignore[no-untyped-def]
    state = get_state(request)
    path = await save_upload(file, state.settings)
    try:
        result = await hash_in_thread(path, file.filename or "upload", state)
    finally:
        discard(path)
    return JSONResponse(result.to_dict())
