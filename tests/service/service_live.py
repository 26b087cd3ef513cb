"""Service test helpers and fixtures (import them explicitly; not a conftest, whose module name
would shadow ``tests/conftest.py``): a real uvicorn server on a free loopback port, in a thread, with keys
for each scope and web UI users (``UiClient`` signs in through the real forms, with CSRF token and Origin)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from haven.auth import Auth, AuthPolicy
from haven.auth.keys import KeyStore
from haven.auth.totp import TotpParams, new_secret
from haven.config import Settings
from haven.secrets import KeyRing, encode_key, new_key
from haven.service.app import create_app
from haven.service.settings import ServiceSettings

# Real Argon2id with cheap parameters: tests sign in many times.
FAST_AUTH = AuthPolicy(argon2_time_cost=1, argon2_memory_kib=8 * 1024, argon2_parallelism=1)
PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO.parent / "shared" / "data" / "photos"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveService:
    url: str
    settings: ServiceSettings
    keys: KeyStore
    admin: str
    match: str
    writer: str
    app: object
    auth: Auth

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]

    def close(self) -> None:
        self.keys.close()
        self.auth.close()

    def user(self, username: str, *roles: str, totp: bool = False) -> bytes | None:
        """A staff user with password ``PASSWORD``; with ``totp``, an enrolled TOTP secret (returned)."""
        user, _ = self.auth.add_user("staff", username, list(roles), password=PASSWORD, actor="test")
        if not totp:
            return None
        secret = new_secret()
        self.auth.users.set_totp(user.id, secret, step=0)
        return secret

    def ui(self, **kw: object) -> UiClient:
        return UiClient(self.url, **kw)


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class UiClient(httpx.Client):
    """A browser-like client for the web UI: sends the page's Origin and fills in each form's CSRF token."""

    def __init__(self, url: str, **kw: object) -> None:
        super().__init__(base_url=url, headers={"Origin": url}, timeout=30, **kw)  # type: ignore[arg-type]

    @staticmethod
    def token(html: str) -> str:
        found = CSRF_FIELD.search(html)
        assert found, "no CSRF token on the page"
        return found.group(1)

    def submit(self, page: str, action: str, data: dict[str, str], **kw: object) -> httpx.Response:
        """GET ``page``, then POST ``data`` to ``action`` with the page's token, as a browser would."""
        got = self.get(page, follow_redirects=True)
        return self.post(action, data={**data, "csrf_token": self.token(got.text)}, **kw)  # type: ignore[arg-type]

    def sign_in(self, username: str, password: str = PASSWORD, totp: bytes | None = None) -> httpx.Response:
        r = self.submit("/ui/login", "/ui/login", {"username": username, "password": password})
        if totp is not None and r.status_code == 303 and r.headers["location"] == "/ui/login/totp":
            # the next time step: a code of the current one may have gone on an earlier sign-in
            code = TotpParams().code(totp, time.time() + 30)
            r = self.submit("/ui/login/totp", "/ui/login/totp", {"code": code})
        return r


class ThreadedServer:
    """uvicorn.Server in a background thread (the httpx test-suite pattern)."""

    def __init__(self, app: object, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def service_settings(data_dir: Path, url: str | None = None, **overrides: object) -> ServiceSettings:
    base = Settings(data_dir=data_dir, database_url=url or "", master_key=encode_key(new_key()))
    return replace(ServiceSettings(base=base, refresh_interval=0.1, auth=FAST_AUTH), **overrides)  # type: ignore[arg-type]


def start_service(settings: ServiceSettings) -> tuple[ThreadedServer, LiveService]:
    app = create_app(settings)
    keys = KeyStore(settings.database_url)
    admin = keys.create("admin", ["admin"])[1]
    match = keys.create("matcher", ["match"])[1]
    writer = keys.create("writer", ["banks:write"])[1]
    port = free_port()
    server = ThreadedServer(app, port)
    auth = Auth(settings.database_url, policy=settings.auth, key_ring=lambda: KeyRing.load(settings.base))
    return server, LiveService(f"http://127.0.0.1:{port}", settings, keys, admin, match, writer, app, auth)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A running service on a fresh SQLite database, shared by one test module (tests use distinct names)."""
    server, svc = start_service(service_settings(tmp_path_factory.mktemp("live")))
    with server:
        yield svc
    svc.close()


def eventually(fn: Callable[[], Any], timeout: float = 2.0) -> Any:
    """``fn()`` as soon as it is truthy, polled every 50 ms; its last (falsy) value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/readyz", timeout=2)
            if r.status_code == 200:
                return
            last = r.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"service not ready: {last}")


@dataclass
class ServeProcess:
    """A real ``haven serve`` process (one worker: the server is the process itself, so its RSS is the
    service's memory) on a free loopback port, with an admin and a match key."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    data_dir: Path
    admin: str
    match: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def proc_status(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM (peak RSS) again from the current RSS (Linux ≥ 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@contextmanager
def serve_process(data_dir: Path, *, env: dict[str, str] | None = None,
                  args: tuple[str, ...] = ()) -> Iterator[ServeProcess]:
    """Run ``haven serve`` until the block ends; waits for ``/readyz``."""
    from haven.secrets import create_key_file

    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'haven.db'}"
    from haven.store.db import upgrade_database

    upgrade_database(url)  # as `haven keys create` would (the shell migrates; KeyStore does not)
    keys = KeyStore(url)
    admin = keys.create("admin", ["admin"])[1]
    match = keys.create("matcher", ["match"])[1]
    keys.close()
    key_file = data_dir.parent / f"{data_dir.name}-config" / "master.key"
    if not key_file.exists():
        create_key_file(key_file)
    port = free_port()
    full_env = {**os.environ, "HAVEN_DATA_DIR": str(data_dir), "HAVEN_DATABASE_URL": "",
                "HAVEN_MASTER_KEY_FILE": str(key_file), "HAVEN_REFRESH_INTERVAL": "0.25", **(env or {})}
    log = data_dir / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "haven.cli.main", "serve", "--port", str(port),
                                 "--log-level", "warning", *args], env=full_env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haven serve did not become ready: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        yield ServeProcess(base, port, proc, data_dir, admin, match, log)
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate a server process, killing it if it has not exited within 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
