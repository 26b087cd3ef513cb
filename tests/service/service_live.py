"""Service test helpers and fixtures (import them explicitly; not a conftest, whose module name
would shadow ``tests/conftest.py``): a real uvicorn server on a free loopback port, in a thread, with keys for each scope."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
