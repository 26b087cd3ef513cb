"""Hash an uploaded file: ``POST /v1/hash``."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haven.errors import FileAccessError, ImageTooLargeError, InputError
from haven.hashing import HashResult, hash_bytes
from haven.service.schemas import ERRORS, HashOut
from haven.service.settings import ServiceSettings
from haven.service.state import get_state, require

router = APIRouter(prefix="/v1", tags=["hashing"])


async def read_upload(upload: UploadFile, settings: ServiceSettings) -> bytes:
    """The uploaded bytes, refusing empty and oversize files."""
    data = await upload.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise ImageTooLargeError(f"upload exceeds the {settings.max_upload_bytes} byte limit",
                                 path=upload.filename or "upload", code="too_large")
    if not data:
        raise FileAccessError("empty upload (0 bytes)", path=upload.filename or "upload", code="empty")
    return data


async def hash_in_thread(
    data: bytes, label: str, settings: ServiceSettings, *, upscaled: bool = False
) -> HashResult:
    """Hash off the event loop, within the upload time limit (``upscaled``: with a small image's
    upscaled PDQ values, hashing/ladder.py)."""
    started = time.monotonic()

    def work() -> HashResult:
        return hash_bytes(
            data,
            label,
            upscaled=upscaled,
            max_pixels=settings.max_upload_pixels,
            max_file_bytes=settings.max_upload_bytes,
        )

    try:
        return await asyncio.wait_for(run_in_threadpool(work), timeout=settings.upload_timeout)
    except TimeoutError:
        raise InputError(
            f"hashing took longer than {settings.upload_timeout:g} s (after "
            f"{time.monotonic() - started:.1f} s)",
            path=label,
            code="hash_timeout",
        ) from None


@router.post(
    "/hash",
    summary="Hash an uploaded image (PDQ, MD5, SHA-1, SHA-256)",
    response_model=HashOut,
    responses=ERRORS,
)
async def hash_upload(
    request: Request, file: UploadFile = File(..., description="The image"), _key=Depends(require("match"))
) -> JSONResponse:  # type: ignore[no-untyped-def]
    settings = get_state(request).settings
    data = await read_upload(file, settings)
    result = await hash_in_thread(data, file.filename or "upload", settings)
    return JSONResponse(result.to_dict())
