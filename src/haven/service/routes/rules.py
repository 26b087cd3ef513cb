"""Rules and their actions: list, add, change, remove, dry-run; action runs; the job dead-letter list.

Every route needs the ``admin`` scope: rules decide what happens to users' uploads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from haven.auth.keys import ApiKey
from haven.errors import StorageError
from haven.service.schemas import ERRORS
from haven.service.state import get_state, require

router = APIRouter(prefix="/v1", tags=["rules"])
_ADMIN = require("admin")
RuleRef = Annotated[str, Path(max_length=200, description="rule id or name")]
RULE_EXAMPLE = {
    "name": "ncmec-known",
    "ruleset": "default",
    "when": {"banks": ["ncmec"], "min_severity": 3, "max_distance": 31},
    "actions": [
        "block",
        "quarantine",
        {"type": "webhook", "url": "https://hooks.example/haven", "secret": "shared-secret"},
        "deterrence",
    ],
}


def _runtime(request: Request) -> Any:
    rt = get_state(request).runtime
    if rt is None:
        raise StorageError("rules and actions are not available in this service", code="not_ready")
    return rt


def _actor(key: ApiKey) -> str:
    return f"key:{key.id}:{key.name}"


@router.get("/rules", summary="List rules, in order, and the rule-set modes", responses=ERRORS)
def list_rules(request: Request, _k: ApiKey = Depends(_ADMIN)) -> dict[str, Any]:
    rt = _runtime(request)
    return {"rulesets": rt.rules.modes(), "rules": [r.to_dict() for r in rt.rules.list()]}


@router.post("/rules", summary="Add a rule at the end of its rule set", status_code=201, responses=ERRORS)
def add_rule(
    request: Request, body: dict[str, Any] = Body(..., examples=[RULE_EXAMPLE]), key: ApiKey = Depends(_ADMIN)
) -> dict[str, Any]:
    from haven.actions.rules import parse_rule

    return _runtime(request).rules.add(parse_rule(body, "body"), actor=_actor(key)).to_dict()  # type: ignore[no-any-return]


@router.put("/rules/{ref}", summary="Replace a rule's conditions and actions", responses=ERRORS)
def update_rule(
    ref: RuleRef,
    request: Request,
    body: dict[str, Any] = Body(..., examples=[RULE_EXAMPLE]),
    key: ApiKey = Depends(_ADMIN),
) -> dict[str, Any]:
    from haven.actions.rules import parse_rule

    return _runtime(request).rules.update(ref, parse_rule(body, "body"), actor=_actor(key)).to_dict()  # type: ignore[no-any-return]


@router.delete("/rules/{ref}", summary="Remove a rule", responses=ERRORS)
def remove_rule(ref: RuleRef, request: Request, key: ApiKey = Depends(_ADMIN)) -> dict[str, Any]:
    return {"removed": _runtime(request).rules.remove(ref, actor=_actor(key)).to_dict()}


@router.put(
    "/rulesets/{name}", summary="Set a rule set's mode: first (first match wins) or all", responses=ERRORS
)
def set_mode(
    name: Annotated[str, Path(max_length=100)],
    request: Request,
    body: dict[str, str] = Body(..., examples=[{"mode": "all"}]),
    key: ApiKey = Depends(_ADMIN),
) -> dict[str, Any]:
    _runtime(request).rules.set_mode(name, str(body.get("mode")), actor=_actor(key))
    return {"ruleset": name, "mode": body.get("mode")}


@router.post(
    "/rules/dry-run", summary="Which rules a match would fire (nothing is run or recorded)", responses=ERRORS
)
def dry_run(
    request: Request,
    body: dict[str, Any] = Body(
        ...,
        examples=[
            {
                "matches": [
                    {"bank": "ncmec", "signal": "pdq", "distance": 4, "category": "A1", "severity": 4}
                ],
                "content_type": "image/jpeg",
            }
        ],
    ),
    _k: ApiKey = Depends(_ADMIN),
) -> dict[str, Any]:
    rt = _runtime(request)
    fired = rt.actions.evaluate(list(body.get("matches") or []), body.get("content_type"))
    return {
        "fires": [
            {"rule": r.name, "ruleset": r.ruleset, "actions": [a.type for a in r.actions]} for r in fired
        ]
    }


@router.get("/actions/runs", summary="Recorded actions and their outcomes, newest first", responses=ERRORS)
def action_runs(
    request: Request,
    content_id: str | None = Query(None, max_length=200),
    status: str | None = Query(None, pattern="^(pending|done|dead)$"),
    limit: int = Query(100, ge=1, le=1000),
    _k: ApiKey = Depends(_ADMIN),
) -> dict[str, Any]:
    return {"runs": _runtime(request).actions.runs(content_id=content_id, status=status, limit=limit)}


@router.get("/jobs/dead", summary="Jobs that failed every try, with their errors", responses=ERRORS)
def dead_letters(request: Request, _k: ApiKey = Depends(_ADMIN)) -> dict[str, Any]:
    return {"dead": [d.to_dict() for d in _runtime(request).queue.dead_letters()]}


@router.post("/jobs/dead/{dead_id}/retry", summary="Run a dead-lettered job again", responses=ERRORS)
def retry_dead(
    dead_id: Annotated[int, Path(ge=1)], request: Request, key: ApiKey = Depends(_ADMIN)
) -> dict[str, Any]:
    message_id = _runtime(request).retry_dead(dead_id, actor=_actor(key))
    return {"retried": dead_id, "message_id": message_id}
