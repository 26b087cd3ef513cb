"""Security headers on every response, and a strict Content-Security-Policy on every HTML page.

HTML pages (``/ui``, ``/docs``) may not be framed (clickjacking) and may load scripts, styles and images
from this server only; the UI's blurred previews are ``data:`` images. No page needs inline script.
"""

from __future__ import annotations

from typing import Any

#: Sent with every response.
COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
#: Sent with every HTML response (by content type, so no route can forget them).
HTML = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
]
#: Swagger UI sets inline styles from script; everything else as for other pages.
DOCS_HTML = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
     b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: Any, *, docs_path: str = "/docs") -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        html = DOCS_HTML if scope["path"] == self.docs_path else HTML

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = list(COMMON)
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    extra += html
                message["headers"] = headers + [(k, v) for k, v in extra if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)
