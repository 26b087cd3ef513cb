"""The one table from Haven errors to HTTP statuses, and the handlers that render every error as
``{"code", "message"}`` JSON — never a stack trace."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from haven.errors import (
    AuthError,
    BusyError,
    ConflictError,
    HavenError,
    ImageTooLargeError,
    InputError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RemoteError,
    RemoteRejectedError,
    StorageError,
    UnsafeURLError,
    UsageError,
)

log = logging.getLogger("haven.service")

# Class → status; the first class in the error's MRO that is listed wins.
STATUS: dict[type[HavenError], int] = {
    UsageError: 400,
    ImageTooLargeError: 413,
    InputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    PermissionDeniedError: 403,
    AuthError: 401,
    BusyError: 503,
    RateLimitedError: 429,
    StorageError: 503,
    IntegrityError: 500,
    UnsafeURLError: 400,
    RemoteRejectedError: 502,
    RemoteError: 502,
    HavenError: 500,
}
# A few codes need a more precise status than their class.
CODE_STATUS = {"upload_timeout": 408, "hash_timeout": 503, "fetch_timeout": 504, "not_ready": 503}


@dataclass(frozen=True)
class ErrorShape:
    """How the errors of another API served under a path prefix look (``/hma/``: HMA's ``{"message"}``):
    ``body`` turns Haven's ``{"code", "message", …}`` into that API's object, ``status`` overrides the
    table above for some classes."""

    body: Callable[[dict[str, Any]], dict[str, Any]]
    status: dict[type[HavenError], int] = field(default_factory=dict)


#: Path prefix → its error shape; a router serving another API registers its own (``routes/hma``).
SHAPES: dict[str, ErrorShape] = {}


def shape_for(path: str | None) -> ErrorShape | None:
    if path:
        for prefix, shape in SHAPES.items():
            if path.startswith(prefix):
                return shape
    return None


def status_for(exc: HavenError, path: str | None = None) -> int:
    """The HTTP status for a Haven error (on ``path``: its API's shape may say otherwise)."""
    if exc.code in CODE_STATUS:
        return CODE_STATUS[exc.code]
    shape = shape_for(path)
    for cls in type(exc).__mro__:
        if shape is not None and cls in shape.status:
            return shape.status[cls]
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(exc: HavenError, path: str | None = None) -> JSONResponse:
    """The JSON response for a Haven error, with ``WWW-Authenticate`` / ``Retry-After`` where they apply;
    in the shape of the API ``path`` belongs to."""
    status = status_for(exc, path)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="haven"'
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after or 1)))
    body: dict[str, Any] = dict(exc.to_dict())
    if isinstance(exc, InputError) and exc.path:
        body["path"] = exc.path
    return JSONResponse(_shaped(path, body), status_code=status, headers=headers)


def _shaped(path: str | None, body: dict[str, Any]) -> dict[str, Any]:
    shape = shape_for(path)
    return shape.body(body) if shape is not None else body


def plain_error(status: int, code: str, message: str, path: str | None = None) -> JSONResponse:
    return JSONResponse(_shaped(path, {"code": code, "message": message}), status_code=status)


async def _haven(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HavenError)
    if status_for(exc) >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    return error_response(exc, request.url.path)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))} for e in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    message = f"{'.'.join(first['loc'])}: {first['message']}" if first["loc"] else str(first["message"])
    body = {"code": "invalid_request", "message": message, "details": details}
    return JSONResponse(_shaped(request.url.path, body), status_code=422)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 401: "unauthorized"}
    response = plain_error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail),
                           request.url.path)
    for k, v in (exc.headers or {}).items():
        response.headers[k] = v
    return response


async def _database(request: Request, exc: Exception) -> JSONResponse:
    # Translated where it enters the shell: the database, not the request, is the problem.
    log.error("database error: %s", exc.__class__.__name__, exc_info=exc)
    return plain_error(503, StorageError.code, "the database is unavailable; try again", request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return plain_error(500, "internal", "internal error (logged on the server)", request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(HavenError, _haven)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(SQLAlchemyError, _database)
    app.add_exception_handler(Exception, _unexpected)
