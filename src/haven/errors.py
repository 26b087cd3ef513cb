"""Every error Haven raises, in one tree.

The core raises these; each shell maps them once (CLI: exit codes in ``haven.cli.main``;
service: HTTP statuses in ``haven.service.errors``). Errors carry their context as attributes
so a shell can render them without parsing messages.

    HavenError
    ├── UsageError                 bad arguments or settings                      (CLI exit 2, HTTP 400)
    ├── InputError                 one input is unusable; ``path`` and ``code``     (CLI exit 2, HTTP 422)
    │   ├── FileAccessError        missing, a directory, unreadable, empty
    │   ├── DecodeError            not an image, corrupt, truncated, unsupported
    │   ├── ImageTooLargeError     over the pixel or byte limit (decompression bomb)
    │   ├── ArchiveError           zip bomb, path traversal, too deep, corrupt archive
    │   │   └── BombError          a source yielded more bytes than its budget allows
    │   └── FormatError            malformed CSV / JSON / XML (``line`` where known)
    │       └── SchemaError        XML not valid against its XSD (``element`` names it)
    ├── NotFoundError              a bank, entry, key, report … that does not exist  (HTTP 404)
    ├── ConflictError              already exists / wrong state                     (HTTP 409)
    ├── AuthError                  missing or unknown credentials                   (HTTP 401)
    │   ├── LoginRequiredError     no live session: a web page sends its login page (HTTP 401 / redirect)
    │   └── PermissionDeniedError  known credentials without the needed scope       (HTTP 403)
    │       └── CsrfError          a form without its token or from another origin  (HTTP 403)
    ├── RateLimitedError           over a caller's rate; ``retry_after`` seconds      (HTTP 429)
    │   └── BusyError              a capacity limit of the service is reached        (HTTP 503)
    ├── StorageError               database or index failure                        (HTTP 503)
    │   └── NotReadyError          still loading its index, or not serving banks    (HTTP 503)
    ├── IntegrityError             sealed or chained data failed its check (tampered, wrong key) (HTTP 500)
    ├── UnsafeURLError             URL refused by the SSRF guard                    (HTTP 400)
    └── RemoteError                a remote service failed (e.g. NCMEC)             (HTTP 502)
        └── RemoteRejectedError    it answered and refused (validation, auth): never retried
"""

from __future__ import annotations

from pathlib import Path


class HavenError(Exception):
    """Base of every error Haven raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        """The ``{"code", "message"}`` shape used by ``--json`` output and the API."""
        return {"code": self.code, "message": self.message}


class UsageError(HavenError):
    code = "usage"


class InputError(HavenError):
    """One input (file, row, document) could not be used; the run goes on with the others."""

    code = "bad_input"

    def __init__(self, message: str, *, path: str | Path | None = None, code: str | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message, code=code)


class FileAccessError(InputError):
    code = "unreadable"


class DecodeError(InputError):
    code = "corrupt"


class ImageTooLargeError(InputError):
    code = "too_large"


class ArchiveError(InputError):
    code = "bad_archive"


class BombError(ArchiveError):
    """A decompression bomb: a source's containers yielded more bytes than its budget allows."""

    code = "zip_bomb"


class FormatError(InputError):
    """Malformed structured input; ``line`` is 1-based where the format has lines."""

    code = "malformed"

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        code: str | None = None,
    ) -> None:
        self.line = line
        if line is not None:
            message = f"line {line}: {message}"
        super().__init__(message, path=path, code=code)


class SchemaError(FormatError):
    code = "schema_invalid"

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        element: str | None = None,
    ) -> None:
        self.element = element
        super().__init__(message, path=path, line=line)


class NotFoundError(HavenError):
    code = "not_found"


class ConflictError(HavenError):
    code = "conflict"


class AuthError(HavenError):
    code = "unauthorized"


class LoginRequiredError(AuthError):
    """No live session (never signed in, logged out, expired): a web surface answers with its login page."""

    code = "login_required"


class PermissionDeniedError(AuthError):
    code = "forbidden"


class CsrfError(PermissionDeniedError):
    """A state-changing request without a valid CSRF token or from another origin."""

    code = "csrf"


class RateLimitedError(HavenError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class BusyError(RateLimitedError):
    """A shared capacity (URL fetch slots, decode memory, bytes in flight) is in use: retry shortly."""

    code = "busy"


class StorageError(HavenError):
    code = "storage"


class NotReadyError(StorageError):
    """The service is up but cannot answer yet (its index is loading) or at all (no banks here)."""

    code = "not_ready"


class IntegrityError(HavenError):
    """Stored data failed a cryptographic check: altered, moved to another record, or the wrong key."""

    code = "integrity"


class UnsafeURLError(HavenError):
    code = "unsafe_url"


class RemoteError(HavenError):
    code = "remote_error"


class RemoteRejectedError(RemoteError):
    code = "remote_rejected"
