"""One client per exchange type (``file``, ``ncmec``, ``stopncii``, ``threatexchange``), all on Haven's own
httpx session and retry policy (``haven.httpretry``); ``make_client`` builds the one an exchange needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from haven.errors import AuthError, RemoteRejectedError, UsageError
from haven.exchanges.types import Exchange, ExchangeClient
from haven.httpretry import RetryPolicy, send, short_body

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ClientSettings:
    """What every client shares, built once by the shell: timeouts, retries, the URL-fetch guard's allow
    list (tests only) and the largest file a ``file`` exchange reads."""

    timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 16.0
    fetch_allow: str = ""
    file_max_bytes: int = 1 << 30
    transport: Any = field(default=None, compare=False)  # httpx transport (tests)


def checked_base(url: str, what: str) -> str:
    """An API base URL: https, or plain http to a loopback mock."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return url.rstrip("/")
    raise UsageError(f"{what} URL {url!r}: must be https:// (plain http only for a local mock)")


class HttpClient:
    """An httpx session with Haven's retry policy; the base of the three API clients."""

    def __init__(
        self,
        base: str,
        options: dict[str, Any],
        cs: ClientSettings,
        *,
        name: str,
        auth: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base = base
        self.name = name
        timeout = float(options.get("timeout", cs.timeout))
        self.policy = RetryPolicy(
            retries=int(options.get("retries", cs.retries)), backoff=cs.backoff, max_backoff=cs.max_backoff
        )
        self.calls: list[str] = []
        self.http = httpx.Client(
            auth=auth,
            headers={"User-Agent": "Haven-exchange-client", **(headers or {})},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=cs.transport,
            follow_redirects=False,  # a redirect would carry the credentials somewhere else
        )

    def request(
        self, method: str, url: str, *, idempotent: bool = True, label: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One call under the retry policy; a 401/403 raises ``AuthError``, any other 4xx
        ``RemoteRejectedError`` (neither is retried)."""
        label = label or f"{method} {urlsplit(url).path}"
        resp = send(
            self.http,
            method,
            url,
            policy=self.policy,
            idempotent=idempotent,
            label=label,
            base=self.base,
            calls=self.calls,
            **kwargs,
        )
        if resp.status_code in (401, 403):
            raise AuthError(f"{self.name} refused the credentials for {label}: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise RemoteRejectedError(
                f"{self.name} rejected {label}: HTTP {resp.status_code} {short_body(resp)}"
            )
        return resp

    def close(self) -> None:
        self.http.close()


def make_client(
    exchange: Exchange,
    credentials: dict[str, str],
    settings: ClientSettings | None = None,
) -> ExchangeClient:
    """The client for ``exchange``'s type."""
    cs = settings or ClientSettings()
    opts = exchange.options
    if exchange.type == "file":
        from haven.exchanges.clients.file import FileClient

        return FileClient(str(opts["source"]), cs)
    if exchange.type == "ncmec":
        from haven.exchanges.clients.ncmec import NcmecHashClient

        return NcmecHashClient(opts, credentials, cs)
    if exchange.type == "stopncii":
        from haven.exchanges.clients.stopncii import StopNciiClient

        return StopNciiClient(opts, credentials, cs)
    if exchange.type == "threatexchange":
        from haven.exchanges.clients.threatexchange import ThreatExchangeClient

        return ThreatExchangeClient(opts, credentials, cs)
    raise UsageError(f"unknown exchange type {exchange.type!r}")
