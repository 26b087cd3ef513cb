"""``RuleStore``: rules and rule sets in the database — add, update, remove, import, export — each change
recorded in the audit log; a short-lived cache so the match path reads no table per request."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select

from haven.actions.models import RuleRow, RuleSetRow
from haven.actions.rules import Action, Rule, check_mode
from haven.audit import AuditLog
from haven.errors import ConflictError, NotFoundError, UsageError
from haven.secrets import KeyRing
from haven.store.db import make_session_factory

#: How long a worker keeps its copy of the rules: a change elsewhere takes effect within this.
CACHE_SECONDS = 1.0


def secret_context(url: str) -> bytes:
    return f"haven-webhook-secret:{url}".encode()


class RuleStore:
    def __init__(self, engine: Engine, audit: AuditLog, ring: KeyRing | None) -> None:
        self.engine = engine
        self.sessions = make_session_factory(engine)
        self.audit = audit
        self.ring = ring
        self._cache: tuple[float, list[Rule], dict[str, str]] | None = None
        self._lock = threading.Lock()

    # -- secrets ---------------------------------------------------------------------------------------
    def _seal_secrets(self, rule: Rule) -> Rule:
        actions = []
        for a in rule.actions:
            if a.type == "webhook" and a.params.get("secret"):
                if self.ring is None:
                    raise UsageError(
                        "webhook secrets are sealed with the master key, which is not configured "
                        "(haven secrets init, or HAVEN_MASTER_KEY)"
                    )
                params = dict(a.params)
                secret = str(params.pop("secret")).encode()
                sealed = self.ring.seal(secret, context=secret_context(str(params["url"])))
                params["secret_sealed"] = base64.b64encode(sealed).decode()
                a = Action(a.type, params)
            actions.append(a)
        return replace(rule, actions=tuple(actions))

    def webhook_secret(self, params: dict[str, Any]) -> bytes:
        """The plaintext secret of a stored webhook action (for signing a delivery)."""
        if self.ring is None:
            raise UsageError("the master key is not configured: cannot open the webhook secret")
        return self.ring.open(
            base64.b64decode(params["secret_sealed"]), context=secret_context(str(params["url"]))
        )

    # -- reading ---------------------------------------------------------------------------------------
    def active(self) -> tuple[list[Rule], dict[str, str]]:
        """Enabled rules in order and the rule-set modes (cached for ``CACHE_SECONDS``)."""
        with self._lock:
            if self._cache is not None and time.monotonic() - self._cache[0] < CACHE_SECONDS:
                return self._cache[1], self._cache[2]
        rules = [r for r in self.list() if r.enabled]
        modes = self.modes()
        with self._lock:
            self._cache = (time.monotonic(), rules, modes)
        return rules, modes

    def invalidate(self) -> None:
        with self._lock:
            self._cache = None

    def list(self) -> list[Rule]:
        with self.sessions() as s:
            return [
                _rule(r)
                for r in s.scalars(select(RuleRow).order_by(RuleRow.ruleset, RuleRow.position, RuleRow.id))
            ]

    def get(self, ref: int | str) -> Rule:
        with self.sessions() as s:
            return _rule(self._row(s, ref))

    def modes(self) -> dict[str, str]:
        with self.sessions() as s:
            return {r.name: r.mode for r in s.scalars(select(RuleSetRow))}

    @staticmethod
    def _row(s: Any, ref: int | str) -> RuleRow:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            row = s.get(RuleRow, int(ref))
        else:
            row = s.scalars(select(RuleRow).where(RuleRow.name == ref)).first()
        if row is None:
            raise NotFoundError(f"no rule {ref!r}")
        return row  # type: ignore[no-any-return]

    # -- writing (audited) -----------------------------------------------------------------------------
    def add(self, rule: Rule, *, actor: str) -> Rule:
        """Append a rule at the end of its rule set (``ConflictError`` if the name is taken)."""
        rule = self._seal_secrets(rule)
        now = datetime.now(UTC)
        with self.sessions() as s:
            if s.scalars(select(RuleRow).where(RuleRow.name == rule.name)).first() is not None:
                raise ConflictError(f"a rule named {rule.name!r} exists")
            self._ensure_set(s, rule.ruleset)
            position = (
                int(
                    s.scalar(
                        select(func.coalesce(func.max(RuleRow.position), -1)).where(
                            RuleRow.ruleset == rule.ruleset
                        )
                    )
                    or 0
                )
                + 1
            )
            row = RuleRow(
                name=rule.name,
                ruleset=rule.ruleset,
                position=position,
                enabled=rule.enabled,
                when=dict(rule.when),
                actions=[a.to_dict() for a in rule.actions],
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            self.audit.record("rule.add", actor, f"rule:{row.id}", _rule(row).to_dict(), session=s)
            s.commit()
            self.invalidate()
            return _rule(row)

    def update(self, ref: int | str, rule: Rule, *, actor: str) -> Rule:
        """Replace a rule's conditions, actions, set and enabled flag (its position stays)."""
        rule = self._seal_secrets(rule)
        with self.sessions() as s:
            row = self._row(s, ref)
            before = _rule(row).to_dict()
            self._ensure_set(s, rule.ruleset)
            row.name, row.when, row.enabled = rule.name, dict(rule.when), rule.enabled
            row.actions = [a.to_dict() for a in rule.actions]
            row.ruleset, row.updated_at = rule.ruleset, datetime.now(UTC)
            self.audit.record(
                "rule.update",
                actor,
                f"rule:{row.id}",
                {"before": before, "after": _rule(row).to_dict()},
                session=s,
            )
            s.commit()
            self.invalidate()
            return _rule(row)

    def remove(self, ref: int | str, *, actor: str) -> Rule:
        with self.sessions() as s:
            row = self._row(s, ref)
            gone = _rule(row)
            s.delete(row)
            self.audit.record("rule.remove", actor, f"rule:{gone.id}", gone.to_dict(), session=s)
            s.commit()
            self.invalidate()
            return gone

    def set_mode(self, ruleset: str, mode: str, *, actor: str) -> None:
        check_mode(mode)
        with self.sessions() as s:
            row = s.get(RuleSetRow, ruleset)
            if row is not None and row.mode == mode:
                return
            if row is None:
                s.add(RuleSetRow(name=ruleset, mode=mode))
            else:
                row.mode = mode
            self.audit.record("ruleset.mode", actor, f"ruleset:{ruleset}", {"mode": mode}, session=s)
            s.commit()
            self.invalidate()

    @staticmethod
    def _ensure_set(s: Any, name: str) -> None:
        if s.get(RuleSetRow, name) is None:
            s.add(RuleSetRow(name=name, mode="first"))
            s.flush()

    def import_rules(
        self, modes: dict[str, str], rules: Iterable[Rule], *, actor: str, replace_all: bool = False
    ) -> dict[str, int]:
        """Add or update rules by name, in the document's order (``replace_all``: remove the others too)."""
        counts = {"added": 0, "updated": 0, "removed": 0}
        rules = list(rules)
        for name, mode in modes.items():
            self.set_mode(name, mode, actor=actor)
        existing = {r.name: r for r in self.list()}
        for rule in rules:
            if rule.name in existing:
                if _same(existing[rule.name], rule):
                    continue
                self.update(rule.name, rule, actor=actor)
                counts["updated"] += 1
            else:
                self.add(rule, actor=actor)
                counts["added"] += 1
        if replace_all:
            keep = {r.name for r in rules}
            for name in existing:
                if name not in keep:
                    self.remove(name, actor=actor)
                    counts["removed"] += 1
        self._reorder([r.name for r in rules])
        return counts

    def _reorder(self, names: Sequence[str]) -> None:
        with self.sessions() as s:
            for position, name in enumerate(names):
                row = s.scalars(select(RuleRow).where(RuleRow.name == name)).first()
                if row is not None:
                    row.position = position
            s.commit()
            self.invalidate()

    def export(self) -> dict[str, Any]:
        """The rules document (webhook secrets stay sealed: re-importable under the same master key)."""
        return {
            "rulesets": {n: {"mode": m} for n, m in sorted(self.modes().items())},
            "rules": [
                {k: v for k, v in r.to_dict(secrets=True).items() if k not in ("id", "position")}
                for r in self.list()
            ],
        }

    def clear(self) -> None:
        with self.sessions() as s:
            s.execute(delete(RuleRow))
            s.commit()
        self.invalidate()


def _same(a: Rule, b: Rule) -> bool:
    def key(r: Rule) -> dict[str, Any]:
        return {k: v for k, v in r.to_dict(secrets=True).items() if k not in ("id", "position")}

    return key(a) == key(b)


def _rule(row: RuleRow) -> Rule:
    actions = tuple(Action(str(a["type"]), {k: v for k, v in a.items() if k != "type"}) for a in row.actions)
    return Rule(
        name=row.name,
        when=dict(row.when),
        actions=actions,
        ruleset=row.ruleset,
        enabled=row.enabled,
        id=row.id,
        position=row.position,
    )
