"""A lean ASGI path for the one route platforms call on every upload: ``POST /v1/match/hashes`` (and its
HMA twin, ``GET /hma/m/raw_lookup`` with one in-memory signal: what clients written for HMA call).

It does exactly what the FastAPI route does — the same key check, the same pydantic model, the same
``_match_one`` and error rendering — without FastAPI's per-request dependency solving, which costs
more CPU than the index query itself. Anything it does not handle plainly (a body that fails
validation, an unexpected error) is passed on to the FastAPI route, so responses stay identical and
the route stays the one described in the OpenAPI document.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from haven.errors import HavenError
from haven.service.errors import error_response, plain_error
from haven.service.limits import bearer_token, replay_body
from haven.service.schemas import HashQuery

PATH = "/v1/match/hashes"
HMA_RAW_LOOKUP = "/hma/m/raw_lookup"
_JSON_HEADERS = [(b"content-type", b"application/json")]
#: What the metrics middleware reads (``route.path``) to label requests by route template.
_ROUTE_LABEL = SimpleNamespace(path=PATH)
_HMA_LABEL = SimpleNamespace(path=HMA_RAW_LOOKUP)
_BOOL = {"true": True, "1": True, "false": False, "0": False}


class FastMatchMiddleware:
    """Serves valid ``POST /v1/match/hashes`` requests directly; everything else goes to ``app``."""

    def __init__(self, app: Any, *, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == HMA_RAW_LOOKUP and scope["method"] == "GET":
            await self._raw_lookup(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        from haven.service.routes.match import _match_one, in_memory_only

        message = await receive()  # RequestGate (outside) has buffered the whole body
        body = message.get("body", b"")
        replay = replay_body(body, receive)

        state = self.fastapi_app.state.haven
        try:
            # Decide first, so a deferred request takes its rate-limit token only once (in the route).
            query = HashQuery.model_validate_json(body)
            backend = state.backend
            if (backend is None or not in_memory_only(query) or not backend.cheap(query.threshold)
                    or state.rules_active()):
                raise _Defer
            key = state.check_key(bearer_token(scope["headers"]), "match")
            payload = _match_one(state, backend, query, key)
        except HavenError as exc:
            scope["route"] = _ROUTE_LABEL
            response = error_response(exc)
            await response(scope, replay, send)
            return
        except SQLAlchemyError:  # as the route's handler does: the database, not the request, failed
            scope["route"] = _ROUTE_LABEL
            await plain_error(503, "storage", "the database is unavailable; try again")(scope, replay, send)
            return
        except (_Defer, ValidationError, ValueError):
            await self.app(scope, replay, send)  # the FastAPI route answers (and renders any error)
            return
        scope["route"] = _ROUTE_LABEL
        data = json.dumps(payload, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


    async def _raw_lookup(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """HMA's raw look-up of one value of an in-memory signal, as its route answers it
        (``routes.hma.matching.raw_lookup_payload``); anything else goes to the route."""
        from haven.service.routes.hma.common import signal_types
        from haven.service.routes.hma.matching import raw_lookup_payload
        from haven.signals import LookupKind, get_signal

        state = self.fastapi_app.state.haven
        try:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if any(len(v) != 1 for v in query.values()) or not {"signal_type", "signal"} <= set(query) or (
                    set(query) - {"signal_type", "signal", "banks", "include_distance"}):
                raise _Defer
            args = {k: v[0] for k, v in query.items()}
            distance = _BOOL.get(args.get("include_distance", "false").lower())
            signal = get_signal(signal_types()[args["signal_type"]])  # KeyError: the route says 400
            backend = state.backend
            if (distance is None or backend is None or signal.lookup is not LookupKind.DISTANCE
                    or not backend.cheap(None) or not signal.is_canonical(args["signal"].lower())):
                raise _Defer
            state.check_key(bearer_token(scope["headers"]), "match")
            payload = raw_lookup_payload(backend, args["signal_type"], args["signal"],
                                         args.get("banks") or None, distance)
        except HavenError as exc:
            scope["route"] = _HMA_LABEL
            await error_response(exc, HMA_RAW_LOOKUP)(scope, receive, send)
            return
        except SQLAlchemyError:
            scope["route"] = _HMA_LABEL
            await plain_error(503, "storage", "the database is unavailable; try again",
                              HMA_RAW_LOOKUP)(scope, receive, send)
            return
        except (_Defer, KeyError, UnicodeDecodeError):
            await self.app(scope, receive, send)
            return
        scope["route"] = _HMA_LABEL
        data = json.dumps(payload, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


class _Defer(Exception):
    """Not a plain single-PDQ query: let the FastAPI route handle it."""
