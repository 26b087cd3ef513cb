"""A loopback webhook receiver for tests, the benchmark and trying rules out: it checks each delivery's
signature and answers with the statuses it was told to (e.g. two 503s, then 200)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from haven.actions.webhook import verify_signature


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int
    signature_ok: bool


class WebhookReceiver:
    """Serve on 127.0.0.1 (a free port); ``statuses`` are answered in turn, the last one for ever after."""

    def __init__(self, secret: bytes, statuses: Sequence[int] = (200,)) -> None:
        self.secret = secret
        self.statuses = list(statuses) or [200]
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                with receiver._lock:
                    n = len(receiver.deliveries)
                    status = receiver.statuses[min(n, len(receiver.statuses) - 1)]
                    receiver.deliveries.append(
                        Delivery(headers, body, status, verify_signature(receiver.secret, headers, body))
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="webhook-receiver", daemon=True
        )

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.deliveries)


@contextmanager
def receiving(secret: bytes, statuses: Sequence[int] = (200,)) -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(secret, statuses).start()
    try:
        yield r
    finally:
        r.stop()
