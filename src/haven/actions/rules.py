"""Rules: which matches fire which actions — their shape, validation, evaluation and YAML form.

A rule's ``when`` holds optional conditions, all of which must hold:

- per match (at least one bank hit must satisfy every one given): ``banks``, ``categories``,
  ``min_severity``, ``signals``, ``max_distance``;
- per upload: ``content_types`` (``image/jpeg``, ``image/*``; a hash-only query has no content type and
  never satisfies this condition).

Rules live in rule sets, in order; a set's ``mode`` is ``first`` (the first rule that fires, only) or
``all`` (every rule that fires). Every set is evaluated.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from haven.errors import FormatError, UsageError

ACTION_TYPES = ("block", "quarantine", "review", "webhook", "report", "deterrence")
#: Actions that run on the job queue (the rest are answered in the match response itself).
QUEUED = frozenset({"quarantine", "review", "webhook", "report"})
#: Actions that need the uploaded bytes (they put the content into the vault).
NEEDS_CONTENT = frozenset({"quarantine", "review", "report"})
MODES = ("first", "all")
CONDITIONS = {
    "banks": list,
    "categories": list,
    "min_severity": int,
    "signals": list,
    "max_distance": int,
    "content_types": list,
}
_ACTION_PARAMS: dict[str, set[str]] = {
    "block": set(),
    "quarantine": set(),
    "review": {"queue", "priority"},
    "webhook": {"url", "secret", "secret_sealed", "max_tries"},
    "report": {"reporter", "incident_type", "escalate_to_high_priority"},
    "deterrence": {"message", "resources"},
}


@dataclass(frozen=True)
class Action:
    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


@dataclass(frozen=True)
class Rule:
    name: str
    when: dict[str, Any]
    actions: tuple[Action, ...]
    ruleset: str = "default"
    enabled: bool = True
    id: int | None = None
    position: int = 0

    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        actions = []
        for a in self.actions:
            d = a.to_dict()
            if not secrets and "secret_sealed" in d:
                d["secret_sealed"] = "(sealed)"
            actions.append(d)
        return {
            "id": self.id,
            "name": self.name,
            "ruleset": self.ruleset,
            "position": self.position,
            "enabled": self.enabled,
            "when": dict(self.when),
            "actions": actions,
        }

    # -- evaluation ------------------------------------------------------------------------------------
    def fires(self, matches: Sequence[Mapping[str, Any]], content_type: str | None) -> bool:
        """Whether this rule fires for a result with these bank ``matches`` (``Match.to_dict()`` shapes)."""
        if not self.enabled or not matches:
            return False
        types = self.when.get("content_types")
        if types and not (content_type and any(fnmatch.fnmatchcase(content_type, t) for t in types)):
            return False
        return any(self._match_ok(m) for m in matches)

    def _match_ok(self, m: Mapping[str, Any]) -> bool:
        w = self.when
        if w.get("banks") and m.get("bank") not in w["banks"]:
            return False
        if w.get("categories") and m.get("category") not in w["categories"]:
            return False
        if w.get("signals") and m.get("signal") not in w["signals"]:
            return False
        if w.get("min_severity") is not None and (
            m.get("severity") is None or m["severity"] < w["min_severity"]
        ):
            return False
        return not (w.get("max_distance") is not None and int(m.get("distance") or 0) > w["max_distance"])


def fired_rules(
    rules: Iterable[Rule],
    modes: Mapping[str, str],
    matches: Sequence[Mapping[str, Any]],
    content_type: str | None,
) -> list[Rule]:
    """The rules that fire, in order, honouring each rule set's mode."""
    out: list[Rule] = []
    done: set[str] = set()
    for rule in sorted(rules, key=lambda r: (r.ruleset, r.position, r.id or 0)):
        if rule.ruleset in done:
            continue
        if rule.fires(matches, content_type):
            out.append(rule)
            if modes.get(rule.ruleset, "first") == "first":
                done.add(rule.ruleset)
    return out


# -- parsing and validation ----------------------------------------------------------------------------
def parse_action(raw: Any, where: str) -> Action:
    """``"block"`` or ``{"type": "webhook", "url": …}`` (or ``{"webhook": {"url": …}}``) → ``Action``."""
    if isinstance(raw, str):
        kind, params = raw, {}
    elif isinstance(raw, Mapping) and "type" in raw:
        kind, params = str(raw["type"]), {k: v for k, v in raw.items() if k != "type"}
    elif isinstance(raw, Mapping) and len(raw) == 1:
        kind, value = next(iter(raw.items()))
        params = dict(value or {}) if isinstance(value, Mapping) or value is None else None  # type: ignore[assignment]
        if params is None:
            raise FormatError(f"{where}: action {kind!r} takes a mapping of parameters", code="bad_rule")
    else:
        raise FormatError(f"{where}: an action is a name or a mapping with 'type'", code="bad_rule")
    if kind not in ACTION_TYPES:
        raise FormatError(
            f"{where}: unknown action {kind!r} (one of {', '.join(ACTION_TYPES)})", code="bad_rule"
        )
    unknown = set(params) - _ACTION_PARAMS[kind]
    if unknown:
        raise FormatError(f"{where}: {kind} does not take {', '.join(sorted(unknown))}", code="bad_rule")
    if kind == "webhook":
        url = str(params.get("url") or "")
        if not url.startswith(("https://", "http://")):
            raise FormatError(f"{where}: a webhook needs an http(s) url", code="bad_rule")
        if not (params.get("secret") or params.get("secret_sealed")):
            raise FormatError(
                f"{where}: a webhook needs a secret (its deliveries are HMAC-signed)", code="bad_rule"
            )
        if "max_tries" in params and (not isinstance(params["max_tries"], int) or params["max_tries"] < 1):
            raise FormatError(f"{where}: max_tries must be a whole number ≥ 1", code="bad_rule")
    if kind == "review" and "priority" in params and not isinstance(params["priority"], int):
        raise FormatError(f"{where}: review priority must be a whole number", code="bad_rule")
    if kind == "deterrence" and "resources" in params and not isinstance(params["resources"], list):
        raise FormatError(f"{where}: deterrence resources must be a list", code="bad_rule")
    if kind == "report" and not isinstance(params.get("reporter"), Mapping):
        raise FormatError(
            f"{where}: a report needs a reporter mapping (as in a case file: email, company …)",
            code="bad_rule",
        )
    return Action(kind, dict(params))


def parse_rule(raw: Any, where: str = "rule") -> Rule:
    """A rule from its dict form (API body, YAML item); ``FormatError`` naming the problem."""
    if not isinstance(raw, Mapping):
        raise FormatError(f"{where}: a rule is a mapping", code="bad_rule")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise FormatError(f"{where}: a rule needs a name (1-200 characters)", code="bad_rule")
    where = f"{where} {name!r}"
    unknown = set(raw) - {"name", "when", "actions", "ruleset", "enabled", "id", "position"}
    if unknown:
        raise FormatError(f"{where}: unknown keys {', '.join(sorted(unknown))}", code="bad_rule")
    when = dict(raw.get("when") or {})
    for key, value in when.items():
        if key not in CONDITIONS:
            raise FormatError(
                f"{where}: unknown condition {key!r} (one of {', '.join(CONDITIONS)})", code="bad_rule"
            )
        want = CONDITIONS[key]
        if want is list and isinstance(value, str):
            when[key] = value = [value]
        if not isinstance(value, want) or isinstance(value, bool):
            raise FormatError(
                f"{where}: {key} must be a {'list' if want is list else 'whole number'}", code="bad_rule"
            )
    actions = raw.get("actions")
    if not isinstance(actions, list) or not actions:
        raise FormatError(f"{where}: a rule needs a list of actions", code="bad_rule")
    ruleset = str(raw.get("ruleset") or "default")
    return Rule(
        name=name.strip(),
        when=when,
        actions=tuple(parse_action(a, f"{where} action {i + 1}") for i, a in enumerate(actions)),
        ruleset=ruleset,
        enabled=bool(raw.get("enabled", True)),
    )


def parse_document(doc: Any, where: str) -> tuple[dict[str, str], list[Rule]]:
    """The YAML/JSON rules document: ``{"rulesets": {name: {mode}}, "rules": [...]}``."""
    if not isinstance(doc, Mapping):
        raise FormatError(f"{where}: expected a mapping with 'rules'", code="bad_rule")
    modes = {}
    for name, spec in (doc.get("rulesets") or {}).items():
        mode = spec.get("mode") if isinstance(spec, Mapping) else spec
        if mode not in MODES:
            raise FormatError(f"{where}: rule set {name!r}: mode must be 'first' or 'all'", code="bad_rule")
        modes[str(name)] = str(mode)
    rules = [parse_rule(r, f"{where}: rules[{i}]") for i, r in enumerate(doc.get("rules") or [])]
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FormatError(
            f"{where}: rule names must be unique; repeated: {', '.join(dupes)}", code="bad_rule"
        )
    return modes, rules


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"rule set mode must be 'first' or 'all', not {mode!r}")
    return mode
