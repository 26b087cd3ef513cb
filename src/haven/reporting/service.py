"""``ReportService``: the one entry point every shell (CLI, API, review workflow) uses for reports."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from haven.config import Settings
from haven.errors import (
    ConflictError,
    DecodeError,
    FormatError,
    HavenError,
    ImageTooLargeError,
    NotFoundError,
)
from haven.reporting.builder import build_file_details, build_report, to_bytes
from haven.reporting.case import Case, CaseFile, Incident, InternetDetail, ReportedUser, Reporter, check_case
from haven.reporting.client import NcmecClient, ReportResponse, base_url_for
from haven.reporting.credentials import Credentials, CredentialStore, legacy_key
from haven.reporting.files import FileSource, LocalFileSource, facts
from haven.reporting.machine import Machine
from haven.reporting.models import Event, Report, ReportFile, aware, utcnow
from haven.reporting.settings import ReportingSettings
from haven.secrets import KeyRing
from haven.signals import Input, signals_for
from haven.store.db import make_engine, make_session_factory, storage_errors


def _iso(value: object) -> str | None:
    v = aware(value)  # type: ignore[arg-type]
    return v.isoformat() if v is not None else None




_db_errors = storage_errors("report")


def _industry_class(matches: list[Any]) -> str | None:
    """The most severe US industry class (A1 > A2 > B1 > B2) among the banks' matches, if any bank gives
    one."""
    found = {
        m.get("category")
        for m in matches
        if isinstance(m, dict) and m.get("category_scheme") == "us-industry"
    }
    return next((c for c in ("A1", "A2", "B1", "B2") if c in found), None)


class ReportService:
    """Create, inspect, submit, retract and reconcile CyberTipline reports stored in Haven's database."""

    @_db_errors
    def __init__(
        self,
        database_url: str,
        *,
        settings: Settings,
        reporting: ReportingSettings,
        file_source: FileSource | None = None,
        client_factory: Callable[[str], NcmecClient] | None = None,
        keyring: KeyRing | None = None,
    ) -> None:
        """Reports in the database at ``database_url``, which the shell has brought to the current schema
        (``upgrade_database``). Credentials are sealed with ``keyring`` (default: the ring ``settings``
        name, loaded when first needed)."""
        self.settings = settings
        self._keyring = keyring
        self.reporting = reporting
        self.engine = make_engine(database_url)
        self.sessions = make_session_factory(self.engine)
        self.source: FileSource = file_source or LocalFileSource()
        self._client_factory = client_factory
        self.machine = Machine(self.sessions, self.source, self.client, self.reporting.environment)

    def close(self) -> None:
        self.engine.dispose()

    # -- credentials and the client ----------------------------------------------------------------------
    def _store(self) -> CredentialStore:
        if self._keyring is None:
            self._keyring = KeyRing.load(self.settings)
        return CredentialStore(self._keyring, legacy=legacy_key(self.settings))

    @_db_errors
    def save_credentials(self, username: str, password: str, environment: str | None = None) -> None:
        """Seal and store the NCMEC username/password for an environment (default: the configured one)."""
        with self.sessions() as s:
            self._store().save(s, environment or self.reporting.environment, Credentials(username, password))
            s.commit()

    def client(self, environment: str) -> NcmecClient:
        """An authenticated client for ``environment`` (the factory given to the constructor, if any)."""
        if self._client_factory is not None:
            return self._client_factory(environment)
        r = self.reporting
        base = base_url_for(environment, r.url)
        with self.sessions() as s:
            creds = self._store().load(s, environment)
            s.commit()  # keeps a one-time migration of legacy credentials
        return NcmecClient(base, creds, timeout=r.timeout, retries=r.retries, backoff=r.backoff)

    def status(self) -> ReportResponse:
        """Check connectivity and credentials with NCMEC's ``/status``."""
        with self.client(self.reporting.environment) as c:
            return c.status()

    # -- create ----------------------------------------------------------------------------------------
    @_db_errors
    def create_from_case(self, case: Case, *, source: str = "case") -> int:
        """Hash the case's files, build and validate all XML, and store a draft report; returns its id."""
        check_case(case)
        if not case.files:
            raise FormatError("case: a report needs at least one file", code="bad_case")
        rows = []
        for i, f in enumerate(case.files):
            known = facts(self.source, f.path)
            computed = {"md5": known.md5, "sha1": known.sha1, "sha256": known.sha256}
            pdq = self._pdq(f.path)
            if pdq:
                computed["pdq"] = pdq
            for algo, value in f.hashes.items():
                if algo in computed and computed[algo] != value:
                    raise ConflictError(
                        f"files[{i}] {f.path}: {algo} is {computed[algo]}, the case says {value}"
                    )
            f.hashes = {**f.hashes, **computed}
            if not f.original_name:
                f.original_name = known.name
            rows.append(
                ReportFile(
                    idx=i,
                    uri=f.path,
                    name=known.name,
                    size=known.size,
                    md5=known.md5,
                    sha1=known.sha1,
                    sha256=known.sha256,
                    pdq=pdq,
                )
            )
            # Validate the per-file XML now with placeholder ids, so nothing invalid is ever half-sent.
            build_file_details(1, "0" * 32, f)
        xml = to_bytes(build_report(case)).decode("utf-8")
        now = utcnow()
        with self.sessions() as s:
            report = Report(
                state="draft",
                source=source,
                case_json=json.dumps(case.to_dict()),
                report_xml=xml,
                created_at=now,
                updated_at=now,
            )
            report.files = rows
            s.add(report)
            s.flush()
            s.add(
                Event(
                    report_id=report.id,
                    kind="created",
                    detail=json.dumps({"source": source, "files": len(rows)}),
                    at=now,
                )
            )
            s.commit()
            return report.id

    def _pdq(self, uri: str) -> str | None:
        if not isinstance(self.source, LocalFileSource):
            return None  # the vault will supply its own perceptual hashes
        from haven.hashing import hash_file

        try:
            result = hash_file(
                Path(uri.removeprefix("file://")), ("pdq",), max_pixels=self.settings.max_pixels
            )
        except (DecodeError, ImageTooLargeError):
            return None  # not an image (video, archive …): the report carries its crypto hashes only
        return result.get("pdq")

    def create_from_match(
        self,
        match_results: Iterable[dict[str, Any]],
        reporter: Reporter,
        *,
        incident: Incident | None = None,
        internet: list[InternetDetail] | None = None,
        reported_user: ReportedUser | None = None,
        file_defaults: CaseFile | None = None,
    ) -> int:
        """Report the files a ``haven match --json`` run matched (objects with ``path`` and a non-empty
        ``matches`` list; objects without ``matches`` are taken as matched)."""
        files = []
        for n, item in enumerate(match_results):
            if not isinstance(item, dict) or not item.get("path"):
                raise FormatError(f"match result {n + 1}: expected an object with a path", code="bad_match")
            if "matches" in item and not item["matches"]:
                continue
            if item.get("error"):
                continue
            base = file_defaults or CaseFile()
            # Digests of the bytes must agree with the file; perceptual hashes are recomputed (a --fast match
            # may differ by a bit).
            hashes = {s.name: str(item[s.name]).lower() for s in signals_for(Input.BYTES) if item.get(s.name)}
            classification = base.classification or _industry_class(item.get("matches") or [])
            files.append(
                replace(
                    base,
                    path=str(item["path"]),
                    hashes=hashes,
                    annotations=list(base.annotations),
                    classification=classification,
                )
            )
        if not files:
            raise FormatError("the match results hold no matched file to report", code="bad_match")
        when = incident.time if incident and incident.time else utcnow().isoformat().replace("+00:00", "Z")
        inc = replace(incident or Incident(), time=when)
        case = Case(
            incident=inc, reporter=reporter, internet=internet or [], reported_user=reported_user, files=files
        )
        return self.create_from_case(case, source="match")

    # -- read ------------------------------------------------------------------------------------------
    @_db_errors
    def get(self, report_id: int, *, events: bool = False) -> dict[str, Any]:
        """Everything about one report (state, NCMEC ids, files, attempts, optionally the audit trail)."""
        with self.sessions() as s:
            report = s.get(Report, report_id)
            if report is None:
                raise NotFoundError(f"no report {report_id}")
            out = self._summary(report)
            out["files"] = [
                {
                    "idx": f.idx,
                    "name": f.name,
                    "uri": f.uri,
                    "size": f.size,
                    "md5": f.md5,
                    "sha1": f.sha1,
                    "sha256": f.sha256,
                    "pdq": f.pdq,
                }
                for f in report.files
            ]
            out["attempts"] = [
                {
                    "seq": a.seq,
                    "state": a.state,
                    "ncmec_report_id": a.ncmec_report_id,
                    "created_at": _iso(a.created_at),
                    "updated_at": _iso(a.updated_at),
                    "uploads": [
                        {"file": u.file_idx, "state": u.state, "file_id": u.ncmec_file_id} for u in a.uploads
                    ],
                }
                for a in report.attempts
            ]
            if events:
                rows = s.scalars(select(Event).where(Event.report_id == report_id).order_by(Event.id))
                out["events"] = [
                    {
                        "at": _iso(e.at),
                        "kind": e.kind,
                        "detail": json.loads(e.detail) if e.detail and e.detail[:1] in "{[" else e.detail,
                    }
                    for e in rows
                ]
            return out

    @_db_errors
    def find_by_source(self, source: str) -> int | None:
        """The newest report created with ``source`` (an action run drafts one per run), if any."""
        with self.sessions() as s:
            q = select(Report.id).where(Report.source == source).order_by(Report.id.desc())
            return s.scalars(q).first()

    @_db_errors
    def xml(self, report_id: int) -> str:
        """The stored ``<report>`` XML."""
        with self.sessions() as s:
            report = s.get(Report, report_id)
            if report is None:
                raise NotFoundError(f"no report {report_id}")
            return report.report_xml

    @_db_errors
    def list(self, *, state: str | None = None) -> list[dict[str, Any]]:
        """Every report's summary, newest first."""
        with self.sessions() as s:
            q = select(Report).order_by(Report.id.desc())
            if state:
                q = q.where(Report.state == state)
            return [self._summary(r) for r in s.scalars(q)]

    @staticmethod
    def _summary(r: Report) -> dict[str, Any]:
        return {
            "id": r.id,
            "state": r.state,
            "source": r.source,
            "environment": r.environment,
            "ncmec_report_id": r.ncmec_report_id,
            "files": len(r.files),
            "created_at": _iso(r.created_at),
            "updated_at": _iso(r.updated_at),
            "finished_at": _iso(r.finished_at),
            "preservation_starts_at": _iso(r.preservation_starts_at),
            "preservation_ends_at": _iso(r.preservation_ends_at),
            "retracted_at": _iso(r.retracted_at),
            "last_error": r.last_error,
        }

    # -- the state machine -----------------------------------------------------------------------------
    @_db_errors
    def submit(self, report_id: int) -> dict[str, Any]:
        """File the report with NCMEC, resuming wherever an earlier run stopped; returns the report."""
        self.machine.submit(report_id)
        return self.get(report_id)

    @_db_errors
    def retract(self, report_id: int) -> dict[str, Any]:
        """Cancel an unfinished report at NCMEC."""
        self.machine.retract(report_id)
        return self.get(report_id)

    @_db_errors
    def reconcile(self, max_age: timedelta, *, retract: bool = False) -> builtins.list[dict[str, Any]]:
        """Finish (or, with ``retract``, cancel) reports stuck in flight longer than ``max_age``, and retract
        orphan NCMEC reports left behind; returns one outcome per report touched."""
        outcomes: builtins.list[dict[str, Any]] = []
        for rid in self.machine.stuck(max_age):
            try:
                (self.machine.retract if retract else self.machine.submit)(rid)
                outcomes.append({"id": rid, "action": "retract" if retract else "finish", "ok": True})
            except HavenError as exc:
                outcomes.append(
                    {
                        "id": rid,
                        "action": "retract" if retract else "finish",
                        "ok": False,
                        "error": exc.to_dict(),
                    }
                )
        for rid in self.machine.orphaned():
            try:
                self.machine.clean_orphans(rid)
                outcomes.append({"id": rid, "action": "retract_orphans", "ok": True})
            except HavenError as exc:
                outcomes.append({"id": rid, "action": "retract_orphans", "ok": False, "error": exc.to_dict()})
        return outcomes
