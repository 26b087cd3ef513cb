"""Service test helpers and fixtures (import them explicitly; not a conftest, whose module name
would shadow ``tests/conftest.py``): a real uvicorn server on a free loopback port, in a thread, with keys for each scope."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn

from haven.config import Settings
from haven.service.app import create_app
from haven.service.keys import KeyStore
from haven.service.settings import ServiceSettings


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

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


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
    base = Settings(data_dir=data_dir, database_url=url or "")
    return replace(ServiceSettings(base=base, refresh_interval=0.1), **overrides)  # type: ignore[arg-type]


def start_service(settings: ServiceSettings) -> tuple[ThreadedServer, LiveService]:
    app = create_app(settings)
    keys = KeyStore(settings.database_url, migrate=False)
    admin = keys.create("admin", ["admin"])[1]
    match = keys.create("matcher", ["match"])[1]
    writer = keys.create("writer", ["banks:write"])[1]
    port = free_port()
    server = ThreadedServer(app, port)
    return server, LiveService(f"http://127.0.0.1:{port}", settings, keys, admin, match, writer, app)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A running service on a fresh SQLite database, shared by one test module (tests use distinct names)."""
    server, svc = start_service(service_settings(tmp_path_factory.mktemp("live")))
    with server:
        yield svc
    svc.keys.close()


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
