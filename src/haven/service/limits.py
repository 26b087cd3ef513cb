"""Request body limits, enforced before FastAPI parses anything: a declared or streamed body over
the size limit gets 413, and a body that takes longer than the upload timeout to arrive gets 408
(a slow client cannot hold a worker open forever)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

#: Room for multipart boundaries and part headers on top of the file size limit.
MULTIPART_SLACK = 64 * 1024


async def _send_error(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps({"code": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Buffers request bodies up to ``max_bytes`` within ``timeout`` seconds, then replays them to the app."""

    def __init__(self, app: Any, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.limit = max_bytes
        self.max_bytes = max_bytes + MULTIPART_SLACK
        self.timeout = timeout

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                declared_n = int(declared)
            except ValueError:
                await _send_error(send, 400, "bad_request", "invalid Content-Length")
                return
            if declared_n > self.max_bytes:
                await _send_error(
                    send,
                    413,
                    "too_large",
                    f"request body of {declared_n} bytes exceeds the {self.limit} byte limit",
                )
                return
        chunks: list[bytes] = []
        total = 0
        try:
            # asyncio.timeout is a cancel scope, not a new task per receive(): cheap on the hot path.
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body = message.get("body", b"")
                    total += len(body)
                    if total > self.max_bytes:
                        await _send_error(
                            send, 413, "too_large", f"request body exceeds the {self.limit} byte limit"
                        )
                        return
                    chunks.append(body)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _send_error(
                send, 408, "upload_timeout", f"the request body did not arrive within {self.timeout:g} s"
            )
            return
        data = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()  # after the body: wait for disconnect, as the server would

        await self.app(scope, replay, send)
