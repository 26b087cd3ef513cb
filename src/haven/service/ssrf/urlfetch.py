"""Fetch a URL without letting a caller reach internal addresses (SSRF).

Every hop is vetted before any socket opens: scheme http/https only, no credentials in the URL,
the host parsed (including legacy IPv4 forms such as ``2130706433`` and ``0177.0.0.1``) and
resolved once, and *every* resolved address must be public. The connection then goes to the
vetted IP literal itself (Host header and TLS SNI/certificate check keep the name), through a
network backend that refuses any address it was not told to connect to — so a DNS answer that
changes between check and connect (rebinding) cannot reach anything new. Redirects are followed
by hand and each hop is vetted again. Size and total time are capped: every socket operation's timeout
is cut to what is left of the fetch's one deadline, so a server that drips bytes (or headers) cannot
stretch a fetch past it.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

from haven.errors import ImageTooLargeError, InputError, RemoteError, UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Addresses refused even if a future Python called them "global".
_ALWAYS_REFUSED: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "fd00:ec2::254/128",
))
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one fetch. ``allow`` exempts networks from the guard: for tests only."""

    max_bytes: int = 50 * 1024 * 1024
    timeout: float = 10.0
    max_redirects: int = 5
    allow: tuple[IPNetwork, ...] = ()
    user_agent: str = "haven-urlfetch/1"
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)

    @staticmethod
    def parse_allow(spec: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
        """``"127.0.0.1/32,::1"`` → networks (the test-only allow-list setting)."""
        if not spec:
            return ()
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        return tuple(ipaddress.ip_network(i.strip(), strict=False) for i in items if i.strip())


@dataclass
class Fetched:
    """What a fetch returned."""

    url: str
    final_url: str
    status: int
    content_type: str | None
    data: bytes
    addresses: list[str]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses hidden inside an IPv6 one (mapped, 6to4, Teredo, NAT64, IPv4-compatible)."""
    out: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    packed = ip.packed
    if packed[:12] == bytes.fromhex("0064ff9b0000000000000000") or packed[:12] == bytes(12):
        out.append(ipaddress.IPv4Address(packed[12:]))  # NAT64 64:ff9b::/96 and ::a.b.c.d
    return out


def check_address(ip: IPAddress | str, allow: tuple[IPNetwork, ...] = ()) -> None:
    """Raise ``UnsafeURLError`` unless ``ip`` is a public unicast address (or in ``allow``)."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])
    if any(ip.version == n.version and ip in n for n in allow):
        return
    reasons = [name for name in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified")
               if getattr(ip, f"is_{name}")]
    if any(ip.version == n.version and ip in n for n in _ALWAYS_REFUSED):
        reasons.append("internal")
    if not ip.is_global:
        reasons.append("not global")
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            if inner.is_unspecified and ip.packed[:12] == bytes(12):
                continue  # "::" itself is caught above
            try:
                check_address(inner, allow)
            except UnsafeURLError:
                reasons.append(f"embeds {inner}")
    if reasons:
        raise UnsafeURLError(f"refused address {ip} ({', '.join(dict.fromkeys(reasons))})")


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse the inet_aton forms browsers and libc accept: 1–4 parts, decimal, octal (0…) or hex (0x…)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or any(p == "" for p in parts):
        return None
    values = []
    for p in parts:
        try:
            if p.lower().startswith("0x"):
                values.append(int(p[2:] or "0", 16))
            elif len(p) > 1 and p.startswith("0"):
                values.append(int(p[1:], 8))
            else:
                values.append(int(p, 10))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def parse_host(host: str) -> IPAddress | None:
    """The IP a URL host denotes literally (any IPv4/IPv6 spelling), or None for a DNS name."""
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return _legacy_ipv4(h)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    target: str  # path + query
    addresses: tuple[IPAddress, ...]


def vet_url(url: str, policy: FetchPolicy, *, resolver=socket.getaddrinfo) -> _Target:  # type: ignore[no-untyped-def]
    """Check a URL and resolve its host once; every address must pass ``check_address``."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"malformed URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURLError(f"only http and https URLs are fetched, not {scheme or 'a relative URL'!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("URLs with credentials are refused")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURLError("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    literal = parse_host(host)
    if literal is not None:
        check_address(literal, policy.allow)
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        try:
            infos = resolver(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeURLError(f"cannot resolve {host!r}") from exc
        found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
        if not found:
            raise UnsafeURLError(f"{host!r} has no address")
        for ip in found:  # one bad answer refuses the whole name: no racing between answers
            check_address(ip, policy.allow)
        addresses = tuple(found)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(scheme, host, port, target, addresses)


def _left(deadline: float, timeout: float | None, timeout_error: type[Exception]) -> float:
    """``timeout`` cut to what is left before ``deadline``; ``timeout_error`` once nothing is."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise timeout_error("the fetch's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose every read and write ends by the fetch's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self.inner = inner
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _left(self.deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _left(self.deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self.inner.start_tls(ssl_context, server_hostname,
                                   _left(self.deadline, timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls, self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """A network backend that only connects to the one address vetted for this hop, and whose streams
    end by the fetch's deadline."""

    def __init__(self, allowed: set[str], policy: FetchPolicy, deadline: float) -> None:
        self.allowed = allowed
        self.policy = policy
        self.deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        if host not in self.allowed:
            raise UnsafeURLError(f"connection to unvetted address {host} refused")
        check_address(host, self.policy.allow)  # checked again at connect time
        left = _left(self.deadline, timeout, httpcore.ConnectTimeout)
        stream = super().connect_tcp(host, port, timeout=left, local_address=local_address,
                                     socket_options=socket_options)
        return _DeadlineStream(stream, self.deadline)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise UnsafeURLError("unix sockets are refused")


def _one_hop(t: _Target, policy: FetchPolicy, deadline: float) -> tuple[int, dict[str, str], bytes]:
    ip = t.addresses[0]
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    default_port = 443 if t.scheme == "https" else 80
    host_header = t.host if t.port == default_port else f"{t.host}:{t.port}"
    if ":" in t.host:
        host_header = f"[{t.host}]" if t.port == default_port else f"[{t.host}]:{t.port}"
    backend = _GuardedBackend({str(ip)}, policy, deadline)
    ctx = policy.ssl_context or ssl.create_default_context()
    remaining = max(0.01, deadline - time.monotonic())
    timeouts = {"connect": remaining, "read": remaining, "write": remaining, "pool": remaining}
    extensions: dict[str, Any] = {"timeout": timeouts}
    if t.scheme == "https":
        extensions["sni_hostname"] = t.host  # certificate is checked against the name, not the IP
    with httpcore.ConnectionPool(
        ssl_context=ctx, network_backend=backend, max_connections=1, retries=0
    ) as pool:
        try:
            with pool.stream(
                "GET",
                f"{t.scheme}://{ip_host}:{t.port}{t.target}",
                headers={
                    "Host": host_header,
                    "User-Agent": policy.user_agent,
                    "Accept": "image/*",
                    "Accept-Encoding": "identity",
                },
                extensions=extensions,
            ) as resp:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in resp.headers}
                if resp.status in _REDIRECTS:
                    return resp.status, headers, b""
                declared = headers.get("content-length", "")
                if declared.isdigit() and int(declared) > policy.max_bytes:
                    raise ImageTooLargeError(
                        f"remote file is {declared} bytes, over the {policy.max_bytes} limit",
                        code="too_large",
                    )
                chunks, total = [], 0
                for chunk in resp.iter_stream():
                    total += len(chunk)
                    if total > policy.max_bytes:
                        raise ImageTooLargeError(
                            f"remote file exceeds the {policy.max_bytes} byte limit", code="too_large"
                        )
                    if time.monotonic() > deadline:
                        raise RemoteError(
                            f"fetch took longer than {policy.timeout:g} s", code="fetch_timeout"
                        )
                    chunks.append(chunk)
                return resp.status, headers, b"".join(chunks)
        except httpcore.TimeoutException as exc:
            raise RemoteError(f"fetch took longer than {policy.timeout:g} s", code="fetch_timeout") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise RemoteError(f"fetch failed: {exc.__class__.__name__}: {exc}", code="fetch_failed") from exc


def fetch_url(url: str, policy: FetchPolicy | None = None, *,  # type: ignore[no-untyped-def]
              resolver=socket.getaddrinfo, deadline: float | None = None) -> Fetched:
    """GET ``url`` safely: vets every hop, bounded bytes and time. Raises ``UnsafeURLError``,
    ``ImageTooLargeError``, ``InputError`` (HTTP error status) or ``RemoteError``.

    ``deadline`` (``time.monotonic()`` seconds) ends the whole fetch; default ``policy.timeout`` from now."""
    policy = policy or FetchPolicy()
    if deadline is None:
        deadline = time.monotonic() + policy.timeout
    current = url
    seen: list[str] = []
    for _hop in range(policy.max_redirects + 1):
        target = vet_url(current, policy, resolver=resolver)
        if time.monotonic() > deadline:  # name resolution has no timeout of its own
            raise RemoteError(f"fetch took longer than {policy.timeout:g} s", code="fetch_timeout")
        seen.append(str(target.addresses[0]))
        status, headers, data = _one_hop(target, policy, deadline)
        if status in _REDIRECTS:
            location = headers.get("location")
            if not location:
                raise RemoteError(f"redirect {status} without a Location", code="fetch_failed")
            current = urljoin(current, location)
            continue
        if status >= 400:
            raise InputError(f"the URL answered HTTP {status}", code="fetch_status")
        return Fetched(
            url=url,
            final_url=current,
            status=status,
            content_type=headers.get("content-type"),
            data=data,
            addresses=seen,
        )
    raise UnsafeURLError(f"more than {policy.max_redirects} redirects")
