"""Hash an uploaded file: ``POST /v1/hash``."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haven.errors import FileAccessError, ImageTooLargeError, InputError
from haven.hashing import HashResult, hash_bytes, hash_file
from haven.hashing.video import VideoLimits
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


_CHUNK = 1024 * 1024


async def save_upload(upload: UploadFile, settings: ServiceSettings) -> Path:
    """The upload streamed to a temporary file (a video need not fit in memory), refusing empty and
    oversize files; the caller removes it (``discard``)."""
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


async def hash_in_thread(
    data: bytes | Path, label: str, settings: ServiceSettings, *, upscaled: bool = False
) -> HashResult:
    """Hash bytes or a saved upload off the event loop, within the upload time limit (``upscaled``: with
    a small image's upscaled PDQ values, hashing/ladder.py). A video's decoding stops itself at the limit."""
    started = time.monotonic()
    video = VideoLimits(max_pixels=settings.max_upload_pixels, max_wall_seconds=settings.upload_timeout)

    def work() -> HashResult:
        options = {"upscaled": upscaled, "max_pixels": settings.max_upload_pixels,
                   "max_file_bytes": settings.max_upload_bytes, "video_limits": video}
        if isinstance(data, Path):
            result = hash_file(data, **options)  # type: ignore[arg-type]
            result.path = label
            return result
        return hash_bytes(data, label, **options)  # type: ignore[arg-type]

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
    summary="Hash an uploaded image or video (PDQ or vPDQ, MD5, SHA-1, SHA-256)",
    response_model=HashOut,
    responses=ERRORS,
)
async def hash_upload(
    request: Request, file: UploadFile = File(..., description="The image or video"),
    _key=Depends(require("match"))
) -> JSONResponse:  # type: ignore[no-untyped-def]
    settings = get_state(request).settings
    path = await save_upload(file, settings)
    try:
        result = await hash_in_thread(path, file.filename or "upload", settings)
    finally:
        discard(path)
    return JSONResponse(result.to_dict())
