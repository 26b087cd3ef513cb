"""``/docs``: Swagger UI for ``/openapi.json``, served entirely by this server (its assets come from the
``fastapi-offline`` package; no CDN, so it works offline and under a ``script-src 'self'`` policy)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="referrer" content="no-referrer">
  <title>{title} — API docs</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" href="/docs/static/favicon.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/ui/static/docs-init.js"></script>
</body>
</html>
"""


def mount(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to ``app`` (which must be built with ``docs_url=None``)."""
    page = _PAGE.format(title=app.title)

    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.mount("/docs/static", StaticFiles(directory=str(ASSETS)), name="docs-static")
