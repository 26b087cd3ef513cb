"""Recovery-needs assessment: instruments (domains of items scored on one scale, with thresholds), versioned;
anonymised assessments of one case over time; a case's trajectory; aggregates across cases.

An instrument definition::

    {"scale": {"min": 0, "max": 3, "labels": {"en": ["not at all", …]}},
     "domains": [{"key": "safety", "title": {"en": "Safety"}, "items": [{"key": "s1", "text": {"en": "…"},
                  "reverse": false}]}],
     "thresholds": [{"domain": "safety", "at_least": 4, "label": "high need"}, {"domain": "total", …}]}

A published version is never edited: a change is a new version, and each assessment keeps the version it
was made with. Cases carry a random code and an age band only; what leaves the portal are aggregates over
at least ``MIN_CASES`` cases, never one case.
"""

from __future__ import annotations

import re
import secrets
import statistics
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haven.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from haven.portal import audit
from haven.portal.actors import MODERATORS, Actor
from haven.portal.models import AssessedCase, Assessment, Instrument
from haven.portal.store import fetch

AGE_BANDS = ("0-4", "5-9", "10-13", "14-17")
MIN_CASES = 5
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def validate(definition: dict[str, Any]) -> dict[str, Any]:
    """Check an instrument definition; ``InputError`` names the first problem."""
    scale = definition.get("scale") or {}
    if not (
        isinstance(scale.get("min"), int)
        and isinstance(scale.get("max"), int)
        and scale["min"] < scale["max"]
    ):
        raise InputError("scale needs integer min < max", code="bad_instrument")
    domains = definition.get("domains") or []
    if not domains:
        raise InputError("an instrument needs at least one domain", code="bad_instrument")
    keys: set[str] = set()
    for d in domains:
        if not _KEY.match(d.get("key", "")) or d["key"] in keys or d["key"] == "total":
            raise InputError(
                f"domain key {d.get('key')!r} is missing, malformed or repeated", code="bad_instrument"
            )
        keys.add(d["key"])
        if not d.get("title", {}).get("en") or not d.get("items"):
            raise InputError(
                f"domain {d['key']}: English title and items are required", code="bad_instrument"
            )
        for item in d["items"]:
            if (
                not _KEY.match(item.get("key", ""))
                or item["key"] in keys
                or not item.get("text", {}).get("en")
            ):
                raise InputError(
                    f"domain {d['key']}: item {item.get('key')!r} needs a unique key and English text",
                    code="bad_instrument",
                )
            keys.add(item["key"])
    for t in definition.get("thresholds", []):
        if (
            t.get("domain") not in {d["key"] for d in domains} | {"total"}
            or not isinstance(t.get("at_least"), int)
            or not t.get("label")
        ):
            raise InputError(
                "a threshold names a domain (or total), an integer at_least and a label",
                code="bad_instrument",
            )
    return definition


def create(db: Session, actor: Actor, key: str, title: str, definition: dict[str, Any]) -> Instrument:
    """A new draft version of instrument ``key`` (version 1, or one more than the newest)."""
    actor.require(*MODERATORS)
    if not _KEY.match(key) or not title.strip():
        raise InputError("an instrument needs a key (a-z, 0-9, _) and a title", code="bad_instrument")
    newest = db.scalar(select(func.max(Instrument.version)).where(Instrument.key == key)) or 0
    inst = Instrument(
        key=key,
        version=newest + 1,
        title=title.strip()[:300],
        definition=validate(definition),
        published=False,
        created_by=actor.member_id or None,
    )
    db.add(inst)
    db.flush()
    audit.record(
        db, "instrument.create", actor, f"instrument:{inst.id}", {"key": key, "version": inst.version}
    )
    return inst


def publish(db: Session, actor: Actor, instrument_id: int) -> Instrument:
    actor.require(*MODERATORS)
    inst = get(db, instrument_id)
    if inst.published:
        raise ConflictError("this version is published already", code="wrong_state")
    inst.published = True
    audit.record(
        db, "instrument.publish", actor, f"instrument:{inst.id}", {"key": inst.key, "version": inst.version}
    )
    return inst


def get(db: Session, instrument_id: int) -> Instrument:
    return fetch(db, Instrument, instrument_id, "instrument")


def current(db: Session, key: str) -> Instrument:
    """The newest published version of ``key``."""
    inst = db.scalar(
        select(Instrument)
        .where(Instrument.key == key, Instrument.published.is_(True))
        .order_by(Instrument.version.desc())
        .limit(1)
    )
    if inst is None:
        raise NotFoundError(f"no published instrument {key!r}")
    return inst


def instruments(db: Session) -> list[Instrument]:
    return list(db.scalars(select(Instrument).order_by(Instrument.key, Instrument.version.desc())))


def score(definition: dict[str, Any], answers: dict[str, int]) -> dict[str, Any]:
    """Domain sums (reverse items flipped), the total, and the threshold labels reached."""
    lo, hi = definition["scale"]["min"], definition["scale"]["max"]
    domains: dict[str, int] = {}
    for d in definition["domains"]:
        total = 0
        for item in d["items"]:
            if item["key"] not in answers:
                raise InputError(f"item {item['key']} is not answered", code="missing_answer")
            value = int(answers[item["key"]])
            if not lo <= value <= hi:
                raise InputError(f"item {item['key']}: {value} is outside {lo}..{hi}", code="bad_answer")
            total += (lo + hi - value) if item.get("reverse") else value
        domains[d["key"]] = total
    overall = sum(domains.values())
    reached = [
        t["label"]
        for t in definition.get("thresholds", [])
        if (overall if t["domain"] == "total" else domains[t["domain"]]) >= t["at_least"]
    ]
    return {"domains": domains, "total": overall, "flags": reached}


def open_case(db: Session, actor: Actor, instrument_key: str, age_band: str) -> AssessedCase:
    """A new anonymised case: a random code (``RC-XXXXXX``), the instrument and an age band, nothing else."""
    actor.require("member", *MODERATORS)
    if age_band not in AGE_BANDS:
        raise InputError(f"age band must be one of {', '.join(AGE_BANDS)}", code="bad_age_band")
    current(db, instrument_key)
    code = "RC-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
    case = AssessedCase(code=code, owner_id=actor.member_id, instrument_key=instrument_key, age_band=age_band)
    db.add(case)
    db.flush()
    return case


def own_case(db: Session, actor: Actor, case_id: int) -> AssessedCase:
    """A case its owner may see; anyone else gets ``PermissionDeniedError`` (moderators too: single records
    never leave the professional who keeps them)."""
    case = db.get(AssessedCase, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    if case.owner_id != actor.member_id:
        raise PermissionDeniedError("only the professional who opened a case sees its assessments")
    return case


def my_cases(db: Session, actor: Actor) -> list[AssessedCase]:
    return list(
        db.scalars(
            select(AssessedCase)
            .where(AssessedCase.owner_id == actor.member_id)
            .order_by(AssessedCase.id.desc())
        )
    )


def record(db: Session, actor: Actor, case_id: int, answers: dict[str, int], week: int) -> Assessment:
    """Score and keep one assessment of a case; ``week`` counts from its first assessment (no dates)."""
    case = own_case(db, actor, case_id)
    if not 0 <= week <= 520:
        raise InputError("week must be between 0 and 520", code="bad_week")
    inst = current(db, case.instrument_key)
    row = Assessment(
        case_id=case.id,
        instrument_id=inst.id,
        week=week,
        answers=dict(answers),
        scores=score(inst.definition, answers),
    )
    db.add(row)
    db.flush()
    return row


def trajectory(db: Session, actor: Actor, case_id: int) -> list[Assessment]:
    """A case's assessments by week (its owner only)."""
    own_case(db, actor, case_id)
    return list(
        db.scalars(
            select(Assessment).where(Assessment.case_id == case_id).order_by(Assessment.week, Assessment.id)
        )
    )


def aggregate(db: Session, instrument_key: str, min_cases: int = MIN_CASES) -> dict[str, Any] | None:
    """Median domain scores at the first and the latest assessment over cases assessed at least twice, or
    None when fewer than ``min_cases`` cases qualify (one case must never be recognisable)."""
    cases = list(db.scalars(select(AssessedCase).where(AssessedCase.instrument_key == instrument_key)))
    firsts: list[dict[str, Any]] = []
    lasts: list[dict[str, Any]] = []
    for case in cases:
        rows = list(
            db.scalars(
                select(Assessment)
                .where(Assessment.case_id == case.id)
                .order_by(Assessment.week, Assessment.id)
            )
        )
        if len(rows) >= 2:
            firsts.append(rows[0].scores)
            lasts.append(rows[-1].scores)
    if len(firsts) < min_cases:
        return None
    domains = list(firsts[0]["domains"])
    return {
        "cases": len(firsts),
        "first": {d: statistics.median(s["domains"][d] for s in firsts) for d in domains},
        "latest": {d: statistics.median(s["domains"][d] for s in lasts) for d in domains},
        "total_first": statistics.median(s["total"] for s in firsts),
        "total_latest": statistics.median(s["total"] for s in lasts),
    }
