"""The per-worker objects every route needs, kept on ``app.state.haven``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from haven.auth.core import Auth
from haven.auth.keys import ApiKey, KeyStore
from haven.service.backend import MatchBackend
from haven.service.decoding import DecodeBudget
from haven.service.limits import ByteBudget
from haven.service.ratelimit import TokenBucketLimiter
from haven.service.records import RecordStore
from haven.service.settings import ServiceSettings
from haven.service.ssrf import FetchPool


@dataclass
class ServiceState:
    settings: ServiceSettings
    auth: Auth
    keys: KeyStore
    records: RecordStore
    backend: MatchBackend | None
    fetch_pool: FetchPool
    body_budget: ByteBudget
    decode_budget: DecodeBudget
    limiter: TokenBucketLimiter = field(default_factory=TokenBucketLimiter)
    runtime: Any = None  # haven.actions.runtime.Runtime: rules, job queue, vault (None: actions off)

    def rules_active(self) -> bool:
        """Whether a match may fire rules (then it must not be answered on the event loop)."""
        return self.runtime is not None and bool(self.runtime.actions.has_rules())

    def check_key(self, secret: str | None, scope: str | tuple[str, ...] | None) -> ApiKey:
        """Authenticate, check the scope (any of a tuple), take a rate-limit token; raises
        AuthError, PermissionDeniedError or RateLimitedError."""
        key = self.keys.authenticate(secret)
        if scope is not None:
            key.require(*((scope,) if isinstance(scope, str) else scope))
        rate = key.rate_limit if key.rate_limit is not None else self.settings.rate_limit
        self.limiter.check(key.id, rate)
        return key

    def load(self) -> dict[str, dict[str, int | bool]]:
        """How much of each shared capacity is in use (``/readyz``)."""
        return {"url_fetch": self.fetch_pool.load(), "body_bytes": self.body_budget.load(),
                "decode_memory": self.decode_budget.load()}


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `haven keys create`, sent as `Authorization: Bearer hvn_…`.",
)


def get_state(request: Request) -> ServiceState:
    return request.app.state.haven  # type: ignore[no-any-return]


def require(scope: str | tuple[str, ...] | None):  # type: ignore[no-untyped-def]
    """A dependency that admits only keys holding ``scope`` (a tuple: any of them; None: any valid key)."""

    async def dependency(request: Request,
                         creds: HTTPAuthorizationCredentials | None = Security(bearer)) -> ApiKey:
        key = get_state(request).check_key(creds.credentials if creds else None, scope)
        request.state.api_key = key
        return key

    label = "_or_".join((scope,) if isinstance(scope, str) else scope or ("any",))
    dependency.__name__ = f"require_{label.replace(':', '_')}"
    return dependency


async def get_backend(request: Request) -> MatchBackend:
    """The worker's backend (async: a sync dependency would cost a thread-pool hop per request)."""
    from haven.errors import NotReadyError

    backend = get_state(request).backend
    if backend is None:
        raise NotReadyError("banks are not available in this service")
    return backend
