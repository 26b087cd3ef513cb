"""The upload path's one transaction: the action runs, the staged bytes, their jobs and the caller's own
write (the service's match record) commit together or not at all; a repeat queues nothing new."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haven.actions.engine import MatchEvent
from haven.actions.models import ActionRun, StagedContent
from haven.actions.rules import parse_rule
from haven.actions.runtime import Runtime, RuntimeSettings, build_runtime
from haven.config import Settings
from haven.evidence.settings import VaultSettings
from haven.jobs.models import JobMessage
from haven.secrets import new_key
from haven.service.models import MatchRecordRow
from haven.service.records import RecordStore
from haven.store.db import make_engine


@pytest.fixture
def rt(tmp_path: Path, db_url: str) -> Iterator[Runtime]:
    base = Settings(data_dir=tmp_path, database_url=db_url, master_key=base64.b64encode(new_key()).decode())
    engine = make_engine(db_url)
    runtime = build_runtime(base, engine, RuntimeSettings(vault=VaultSettings(vault_dir=tmp_path / "vault")))
    hook = {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s"}
    runtime.rules.add(
        parse_rule({"name": "r", "when": {"banks": ["b"]}, "actions": ["quarantine", hook]}), actor="t"
    )
    yield runtime
    runtime.close()
    engine.dispose()


def event(sha: str) -> MatchEvent:
    return MatchEvent(
        hashes={"sha256": sha, "pdq": "f" * 64},
        matches=[{"bank": "b", "signal": "pdq", "distance": 0}],
        content_id=sha,
        content=b"\xff\xd8 the upload " + sha.encode(),
        content_type="image/jpeg",
    )


def counts(rt: Runtime) -> tuple[int, int, int, int]:
    with Session(rt.engine) as s:
        return tuple(  # type: ignore[return-value]
            int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (ActionRun, StagedContent, JobMessage, MatchRecordRow)
        )


def test_the_callers_write_commits_with_the_runs_and_jobs_or_nothing_does(rt: Runtime) -> None:
    def fail(conn: object, verdict: object) -> None:
        raise RuntimeError("the record could not be written")

    with pytest.raises(RuntimeError):
        rt.actions.on_match(event("a" * 64), also=fail)
    assert counts(rt) == (0, 0, 0, 0)

    def record(conn, verdict) -> None:  # type: ignore[no-untyped-def]
        RecordStore.save_in(conn, "a" * 64, "upload", {"verdict": verdict.to_dict()}, key_id=1)

    verdict = rt.actions.on_match(event("a" * 64), also=record)
    assert verdict is not None and sorted(a["action"] for a in verdict.actions) == ["quarantine", "webhook"]
    assert counts(rt) == (2, 1, 2, 1)  # two runs, the staged upload, two jobs (one statement), the record

    again = rt.actions.on_match(event("a" * 64), also=record)  # a retried upload: nothing new queued
    assert again is not None and again.actions == []
    assert counts(rt) == (2, 1, 2, 2)
