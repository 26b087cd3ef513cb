"""Surveys of practice and training-needs assessments: questions with per-language text, rounds, answers,
and results per country or profession that pass small-cell suppression before anyone sees them.

A question is ``{"key", "type", "text": {lang: str}, "options": [{"key", "text": {lang: str}}]}`` with type
``single`` (one option), ``multi`` (any options), ``scale`` (``"min"``..``"max"``) or ``text`` (free text,
never tabulated). English text is required; other languages fall back to it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from haven.errors import ConflictError, InputError, NotFoundError
from haven.portal import audit
from haven.portal.actors import MODERATORS, Actor
from haven.portal.models import Member, Survey, SurveyResponse, SurveyRound, utcnow
from haven.portal.store import fetch
from haven.portal.suppression import SuppressedTable, suppress

QUESTION_TYPES = ("single", "multi", "scale", "text")
SURVEY_KINDS = ("practice", "training_needs")
GROUPINGS = ("country", "profession")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def text_for(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts["en"]


def validate_questions(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check a survey's questions; ``InputError`` names the first problem."""
    if not questions:
        raise InputError("a survey needs at least one question", code="bad_survey")
    seen: set[str] = set()
    for q in questions:
        key = q.get("key", "")
        if not _KEY.match(key) or key in seen:
            raise InputError(f"question key {key!r} is missing, malformed or repeated", code="bad_survey")
        seen.add(key)
        if q.get("type") not in QUESTION_TYPES:
            raise InputError(
                f"question {key}: type must be one of {', '.join(QUESTION_TYPES)}", code="bad_survey"
            )
        if not isinstance(q.get("text"), dict) or not q["text"].get("en"):
            raise InputError(f"question {key}: English text is required", code="bad_survey")
        if q["type"] in ("single", "multi"):
            options = q.get("options") or []
            keys = [o.get("key") for o in options]
            if (
                len(options) < 2
                or len(set(keys)) != len(keys)
                or not all(o.get("text", {}).get("en") for o in options)
            ):
                raise InputError(
                    f"question {key}: two or more options with keys and English text", code="bad_survey"
                )
        if q["type"] == "scale" and not (
            isinstance(q.get("min"), int)
            and isinstance(q.get("max"), int)
            and q["min"] < q["max"] <= q["min"] + 10
        ):
            raise InputError(
                f"question {key}: a scale needs integer min < max (at most 11 points)", code="bad_survey"
            )
    return questions


def create(
    db: Session, actor: Actor, *, key: str, kind: str, title: dict[str, str], questions: list[dict[str, Any]]
) -> Survey:
    actor.require(*MODERATORS)
    if kind not in SURVEY_KINDS or not _KEY.match(key) or not title.get("en"):
        raise InputError(
            "a survey needs a key, a kind (practice, training_needs) and an English title", code="bad_survey"
        )
    if db.scalar(select(Survey.id).where(Survey.key == key)) is not None:
        raise ConflictError(f"survey {key} exists already", code="exists")
    survey = Survey(key=key, kind=kind, title=title, questions=validate_questions(questions))
    db.add(survey)
    db.flush()
    audit.record(db, "survey.create", actor, f"survey:{survey.id}", {"key": key})
    return survey


def get(db: Session, survey_id: int) -> Survey:
    return fetch(db, Survey, survey_id, "survey")


def get_round(db: Session, round_id: int) -> SurveyRound:
    return fetch(db, SurveyRound, round_id, "survey round")


def open_round(db: Session, actor: Actor, survey_id: int, name: str) -> SurveyRound:
    actor.require(*MODERATORS)
    get(db, survey_id)
    rnd = SurveyRound(survey_id=survey_id, name=name.strip()[:120] or "round", status="open")
    db.add(rnd)
    db.flush()
    audit.record(db, "survey.open_round", actor, f"round:{rnd.id}", {"survey": survey_id, "name": rnd.name})
    return rnd


def close_round(db: Session, actor: Actor, round_id: int) -> SurveyRound:
    actor.require(*MODERATORS)
    rnd = get_round(db, round_id)
    if rnd.status != "open":
        raise ConflictError("this round is closed already", code="wrong_state")
    rnd.status, rnd.closed_at = "closed", utcnow()
    audit.record(db, "survey.close_round", actor, f"round:{rnd.id}", {})
    return rnd


def rounds(db: Session, *, status: str | None = None) -> list[SurveyRound]:
    query = select(SurveyRound).order_by(SurveyRound.id.desc())
    if status:
        query = query.where(SurveyRound.status == status)
    return list(db.scalars(query))


def has_answered(db: Session, round_id: int, member_id: int) -> bool:
    return (
        db.scalar(
            select(SurveyResponse.id).where(
                SurveyResponse.round_id == round_id, SurveyResponse.member_id == member_id
            )
        )
        is not None
    )


def _clean_answers(questions: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for q in questions:
        value = answers.get(q["key"])
        if value in (None, "", []):
            continue  # every question may be skipped
        options = {o["key"] for o in q.get("options", [])}
        if q["type"] == "single" and value in options:
            clean[q["key"]] = value
        elif q["type"] == "multi" and isinstance(value, list) and set(value) <= options:
            clean[q["key"]] = sorted(set(value))
        elif q["type"] == "scale" and str(value).lstrip("-").isdigit() and q["min"] <= int(value) <= q["max"]:
            clean[q["key"]] = int(value)
        elif q["type"] == "text" and isinstance(value, str):
            clean[q["key"]] = value.strip()[:2000]
        else:
            raise InputError(f"answer to {q['key']} is not one of its choices", code="bad_answer")
    return clean


def respond(
    db: Session, actor: Actor, round_id: int, answers: dict[str, Any], language: str = "en"
) -> SurveyResponse:
    """Record one member's answers to an open round (once per round); country and profession are copied."""
    actor.require("member", *MODERATORS)
    rnd = get_round(db, round_id)
    if rnd.status != "open":
        raise ConflictError("this round is closed", code="wrong_state")
    member = db.get(Member, actor.member_id)
    if member is None:
        raise NotFoundError("no such member")
    survey = get(db, rnd.survey_id)
    response = SurveyResponse(
        round_id=round_id,
        member_id=member.id,
        country=member.country,
        profession=member.profession,
        language=language[:8],
        answers=_clean_answers(survey.questions, answers),
    )
    if has_answered(db, round_id, member.id):
        raise ConflictError("you have answered this round already", code="answered")
    try:
        with db.begin_nested():  # a concurrent second answer fails on the unique key, not the whole session
            db.add(response)
    except IntegrityError as exc:
        raise ConflictError("you have answered this round already", code="answered") from exc
    return response


@dataclass
class QuestionResult:
    question: dict[str, Any]
    by: str
    table: SuppressedTable
    respondents: int


def results(
    db: Session, round_id: int, question_key: str, *, by: str = "country", k: int = 5, language: str = "en"
) -> QuestionResult:
    """Counts of answers per group, suppressed: groups are rows, answer choices columns.

    A multi-choice question is tabulated as chosen / not chosen per option for its first option asked for;
    ``results_multi`` gives all options.
    """
    if by not in GROUPINGS:
        raise InputError(f"group by {' or '.join(GROUPINGS)}", code="bad_grouping")
    rnd = get_round(db, round_id)
    survey = get(db, rnd.survey_id)
    question = next((q for q in survey.questions if q["key"] == question_key), None)
    if question is None or question["type"] == "text":
        raise NotFoundError(f"no tabulated question {question_key!r} in this survey")
    responses = list(db.scalars(select(SurveyResponse).where(SurveyResponse.round_id == round_id)))
    if question["type"] == "scale":
        choices = [str(v) for v in range(question["min"], question["max"] + 1)]
        labels = choices
    else:
        choices = [o["key"] for o in question["options"]]
        labels = [text_for(o["text"], language) for o in question["options"]]
    groups = sorted({getattr(r, by) for r in responses if question_key in r.answers})
    counts = [[0] * len(choices) for _ in groups]
    for r in responses:
        if question_key not in r.answers:
            continue
        value = r.answers[question_key]
        picked = value if isinstance(value, list) else [str(value)]
        for choice in picked:
            counts[groups.index(getattr(r, by))][choices.index(str(choice))] += 1
    if question["type"] == "multi":
        # Options are not exclusive, so the row total is not the sum: each option becomes its own
        # chosen / not-chosen table with the group's respondents as total (see suppression's invariant).
        answered = [
            sum(1 for r in responses if question_key in r.answers and getattr(r, by) == g) for g in groups
        ]
        cols = [f"{label}" for label in labels]
        table = _multi_table(groups, cols, counts, answered, k)
    else:
        table = suppress(groups, labels, counts, k=k)
    return QuestionResult(
        question=question,
        by=by,
        table=table,
        respondents=sum(1 for r in responses if question_key in r.answers),
    )


def _multi_table(
    groups: list[str], cols: list[str], counts: list[list[int]], answered: list[int], k: int
) -> SuppressedTable:
    """One suppressed chosen/not-chosen table per option, merged into one view of 'chosen' counts."""
    merged = SuppressedTable(groups, cols, {}, k=k)
    for j, col in enumerate(cols):
        sub = suppress(
            groups, [col, "not"], [[counts[i][j], answered[i] - counts[i][j]] for i in range(len(groups))], k
        )
        for i in [*range(len(groups)), -1]:
            merged.values[(i, j)] = sub.values[(i, 0)]
            for name in ("primary", "secondary"):
                if (i, 0) in getattr(sub, name):
                    getattr(merged, name).add((i, j))
            if j == 0:
                merged.values[(i, -1)] = sub.values[(i, -1)]
                for name in ("primary", "secondary"):
                    if (i, -1) in getattr(sub, name):
                        getattr(merged, name).add((i, -1))
        merged.values[(-1, j)] = sub.values[(-1, 0)]
    merged.values[(-1, -1)] = sum(answered)
    return merged


def to_csv(result: QuestionResult) -> str:
    """The suppressed table as CSV: hidden numbers are written as their label (``<5`` or ``x``)."""
    t = result.table
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([result.by, *t.cols, "total"])
    for i, row in enumerate(t.rows):
        w.writerow([row, *(t.label(i, j) for j in range(len(t.cols))), t.label(i, -1)])
    w.writerow(["all", *(t.label(-1, j) for j in range(len(t.cols))), t.label(-1, -1)])
    return buf.getvalue()
