"""Rule parsing, evaluation order (first/all), the rule store's audit trail, and webhook signatures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from haven.actions.rules import fired_rules, parse_document, parse_rule
from haven.actions.store import RuleStore
from haven.actions.webhook import sign, verify_signature
from haven.audit import AuditLog
from haven.errors import ConflictError, FormatError
from haven.secrets import KeyRing, new_key
from haven.store.db import make_engine

M = {"bank": "ncmec", "signal": "pdq", "distance": 10, "category": "A1", "severity": 4}


def rule(name: str, ruleset: str = "default", **when: object) -> dict:  # type: ignore[type-arg]
    return {"name": name, "ruleset": ruleset, "when": when, "actions": ["block"]}


@pytest.mark.parametrize(
    "when,fires",
    [
        ({}, True),
        ({"banks": ["ncmec"]}, True),
        ({"banks": ["other"]}, False),
        ({"categories": ["A1"]}, True),
        ({"categories": ["B2"]}, False),
        ({"min_severity": 4}, True),
        ({"min_severity": 5}, False),
        ({"signals": ["md5"]}, False),
        ({"max_distance": 10}, True),
        ({"max_distance": 9}, False),
        ({"content_types": ["image/*"]}, True),
        ({"content_types": ["video/*"]}, False),
    ],
)
def test_conditions(when: dict, fires: bool) -> None:  # type: ignore[type-arg]
    r = parse_rule(rule("r", **when))
    assert r.fires([M], "image/jpeg") is fires


def test_one_match_must_satisfy_every_match_condition() -> None:
    r = parse_rule(rule("r", banks=["ncmec"], max_distance=5))
    near_other = {**M, "bank": "other", "distance": 0}
    far_ncmec = {**M, "distance": 30}
    assert not r.fires([near_other, far_ncmec], None)
    assert r.fires([near_other, far_ncmec, {**M, "distance": 2}], None)


def test_hash_only_query_never_satisfies_content_types() -> None:
    assert not parse_rule(rule("r", content_types=["image/*"])).fires([M], None)


def test_first_and_all_modes() -> None:
    rules = [parse_rule(rule(n, s)) for n, s in (("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"))]
    rules = [r.__class__(**{**r.__dict__, "position": i}) for i, r in enumerate(rules)]
    fired = fired_rules(rules, {"a": "first", "b": "all"}, [M], None)
    assert [r.name for r in fired] == ["a1", "b1", "b2"]


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"name": "", "actions": ["block"]}, "needs a name"),
        ({"name": "x", "actions": []}, "list of actions"),
        ({"name": "x", "actions": ["nope"]}, "unknown action"),
        ({"name": "x", "when": {"colour": "red"}, "actions": ["block"]}, "unknown condition"),
        ({"name": "x", "when": {"min_severity": "high"}, "actions": ["block"]}, "whole number"),
        ({"name": "x", "actions": [{"type": "webhook", "url": "https://h"}]}, "needs a secret"),
        ({"name": "x", "actions": [{"type": "report"}]}, "reporter"),
        ({"name": "x", "actions": [{"type": "block", "loud": True}]}, "does not take loud"),
    ],
)
def test_bad_rules_name_the_problem(raw: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(FormatError, match=message):
        parse_rule(raw)


def test_document_errors_name_the_rule(tmp_path: Path) -> None:
    doc = {"rulesets": {"default": {"mode": "all"}}, "rules": [rule("a"), {"name": "b", "actions": ["x"]}]}
    with pytest.raises(FormatError, match=r"rules\[1\] 'b' action 1: unknown action 'x'"):
        parse_document(doc, "rules.yaml")
    with pytest.raises(FormatError, match="repeated: a"):
        parse_document({"rules": [rule("a"), rule("a")]}, "rules.yaml")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> RuleStore:
    return RuleStore(engine, AuditLog(engine), KeyRing([new_key()]))


def test_store_round_trip_seals_secrets_and_audits(store: RuleStore) -> None:
    hook = {
        "name": "hook",
        "actions": [{"type": "webhook", "url": "https://h.example/x", "secret": "s3cret"}],
    }
    added = store.add(parse_rule(hook), actor="user:admin")
    stored = store.get("hook").actions[0].params
    assert "secret" not in stored and store.webhook_secret(stored) == b"s3cret"
    assert "s3cret" not in str(store.export()) and "s3cret" not in str(
        [e.detail for e in store.audit.entries()]
    )
    with pytest.raises(ConflictError):
        store.add(parse_rule(hook), actor="user:admin")
    doc = yaml.safe_load(yaml.safe_dump(store.export()))
    modes, rules = parse_document(doc, "export")
    assert store.import_rules(modes, rules, actor="user:admin") == {"added": 0, "updated": 0, "removed": 0}
    modes, rules = parse_document({"rules": [rule("new", min_severity=2)]}, "x")
    assert store.import_rules(modes, rules, actor="user:admin", replace_all=True) == {
        "added": 1,
        "updated": 0,
        "removed": 1,
    }
    assert [r.name for r in store.list()] == ["new"]
    events = [e.event for e in store.audit.entries()]
    assert events == ["rule.add", "rule.add", "rule.remove"] and store.audit.verify().ok
    assert added.id is not None


def test_cache_sees_changes_from_elsewhere_within_a_second(engine: Engine) -> None:
    a = RuleStore(engine, AuditLog(engine), None)
    b = RuleStore(engine, AuditLog(engine), None)
    assert a.active()[0] == []
    b.add(parse_rule(rule("x")), actor="t")
    deadline = time.monotonic() + 2
    while not a.active()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=40), st.integers(0, 2**31))
def test_signature_verifies_and_any_change_breaks_it(body: bytes, secret: bytes, ts: int) -> None:
    headers = {"Haven-Timestamp": str(ts), "Haven-Signature": sign(secret, ts, body)}
    assert verify_signature(secret, headers, body, now=ts)
    assert not verify_signature(secret, headers, body + b"x", now=ts)
    assert not verify_signature(secret + b"x", headers, body, now=ts)
    assert not verify_signature(secret, headers, body, now=ts + 301)  # a replay, too late
