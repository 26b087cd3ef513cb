"""The one table from Haven errors to HTTP statuses, and the handlers that render every error as
``{"code", "message"}`` JSON — never a stack trace."""

from __future__ import annotations

import logging
import math

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


def status_for(exc: HavenError) -> int:
    """The HTTP status for a Haven error."""
    if exc.code in CODE_STATUS:
        return CODE_STATUS[exc.code]
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(exc: HavenError) -> JSONResponse:
    """The JSON response for a Haven error, with ``WWW-Authenticate`` / ``Retry-After`` where they apply."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="haven"'
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after or 1)))
    body = exc.to_dict()
    if isinstance(exc, InputError) and exc.path:
        body["path"] = exc.path
    return JSONResponse(body, status_code=status, headers=headers)


def plain_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _haven(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HavenError)
    if status_for(exc) >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    return error_response(exc)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))} for e in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    message = f"{'.'.join(first['loc'])}: {first['message']}" if first["loc"] else str(first["message"])
    return JSONResponse({"code": "invalid_request", "message": message, "details": details}, status_code=422)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 401: "unauthorized"}
    response = plain_error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
    for k, v in (exc.headers or {}).items():
        response.headers[k] = v
    return response


async def _database(_: Request, exc: Exception) -> JSONResponse:
    # Translated where it enters the shell: the database, not the request, is the problem.
    log.error("database error: %s", exc.__class__.__name__, exc_info=exc)
    return plain_error(503, StorageError.code, "the database is unavailable; try again")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return plain_error(500, "internal", "internal error (logged on the server)")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(HavenError, _haven)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(SQLAlchemyError, _database)
    app.add_exception_handler(Exception, _unexpected)
