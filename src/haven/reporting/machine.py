"""The persisted, crash-safe submission state machine, and the reconciler.

Every remote call is bracketed: its *intent* is committed before the call, its *confirmed result* right
after. A run that dies anywhere resumes from the last confirmed step. The one invariant that makes the
*finished* report exactly one:

    /finish is only ever called for a report's current attempt, and once an attempt is "finishing"
    no new attempt is opened for that report unless NCMEC says the attempt no longer exists.

Attempt states (one attempt = one NCMEC reportId)::

    submitting ──ok──▶ open ──uploads + fileinfo──▶ finishing ──ok / 5102──▶ finished
        │                │                              │
        │ timeout/crash  │ upload outcome unknown,      │ 5001/5101 (NCMEC dropped it)
        ▼                ▼ crash mid-upload, bad MD5    ▼
    abandoned         tainted ──/retract──▶ retracted   gone
    (id unknown:      (id known: retracted as an orphan; a new attempt starts)
     NCMEC discards
     it unfinished)

Report states: draft → submitted → files_uploaded → finishing → finished, or retracted; ``rejected``
when NCMEC refused the content (needs a person), ``failed`` when the run gave up on a remote error
(``haven report submit`` resumes it).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from haven.errors import ConflictError, HavenError, NotFoundError, RemoteError
from haven.faults import FAULTS
from haven.reporting.builder import build_file_details, to_bytes
from haven.reporting.case import Case, case_from_dict
from haven.reporting.client import (
    ALREADY_FINISHED,
    ALREADY_RETRACTED,
    REPORT_NOT_FOUND,
    NcmecClient,
    NcmecRejectedError,
    OutcomeUnknownError,
)
from haven.reporting.files import FileSource, facts
from haven.reporting.models import Attempt, Event, Report, Upload, aware, utcnow
from haven.reporting.schema import validate_bytes

#: 18 U.S.C. 2258A(h) as amended by the REPORT Act (2024): providers preserve report contents for 1 year.
PRESERVATION = timedelta(days=365)
#: New attempts one ``submit`` call may open before giving up (each abandoned one is left to expire).
MAX_NEW_ATTEMPTS = 3
LEASE = timedelta(minutes=15)
DEAD_ENDS = ("abandoned", "tainted", "retracted", "gone", "failed")
TERMINAL_REPORT = ("finished", "retracted")



def _me() -> str:
    # host:pid/thread — threads of one process must not share a lease either.
    return f"{socket.gethostname()}:{os.getpid()}/{threading.get_ident()}"


def _pid_alive(owner: str) -> bool:
    host, _, rest = owner.rpartition(":")
    pid = rest.split("/", 1)[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust its lease until it expires
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Machine:
    """Drives one report through submit / retract, committing each step; used by ``ReportService``."""

    def __init__(self, sessions: sessionmaker, source: FileSource, client_for: Callable[[str], NcmecClient],
                 environment: str) -> None:
        self.sessions = sessions
        self.source = source
        self.client_for = client_for
        self.environment = environment
        #: Called with (report id, event kind, detail) after each step is committed — for progress output.
        self.on_event: Callable[[int, str, object], None] | None = None

    # -- plumbing -------------------------------------------------------------------------------------
    @contextmanager
    def _leased(self, report_id: int) -> Iterator[Session]:
        """Hold the report's lease for the block, so two processes never drive the same report."""
        me = _me()
        with self.sessions() as s:
            row = s.get(Report, report_id)
            if row is None:
                raise NotFoundError(f"no report {report_id}")
            now = utcnow()
            owner, until = row.lease_owner, aware(row.lease_until)
            if owner and owner != me and until and until > now and _pid_alive(owner):
                raise ConflictError(
                    f"report {report_id} is being submitted by {owner} (lease until {until:%H:%M:%S})"
                )
            stmt = update(Report).where(Report.id == report_id)
            stmt = (
                stmt.where(Report.lease_owner == owner) if owner else stmt.where(Report.lease_owner.is_(None))
            )
            if s.execute(stmt.values(lease_owner=me, lease_until=now + LEASE)).rowcount != 1:
                raise ConflictError(f"report {report_id} was taken by another process")
            s.commit()
        try:
            with self.sessions() as s:
                yield s
        finally:
            with self.sessions() as s:
                s.execute(
                    update(Report)
                    .where(Report.id == report_id, Report.lease_owner == me)
                    .values(lease_owner=None, lease_until=None)
                )
                s.commit()

    @staticmethod
    def _log(s: Session, report: Report, kind: str, detail: object = None) -> None:
        text = detail if isinstance(detail, str) or detail is None else json.dumps(detail)
        s.add(Event(report_id=report.id, kind=kind, detail=text, at=utcnow()))

    def _commit(self, s: Session, report: Report, state: str | None = None, **log: object) -> None:
        now = utcnow()
        if state is not None:
            report.state = state
        report.updated_at = now
        report.lease_until = now + LEASE
        for kind, detail in log.items():
            self._log(s, report, kind, detail)
        s.commit()
        if self.on_event is not None:
            for kind, detail in log.items():
                self.on_event(report.id, kind, detail)

    @staticmethod
    def _set(attempt: Attempt, state: str, **values: object) -> None:
        attempt.state = state
        attempt.updated_at = utcnow()
        for k, v in values.items():
            setattr(attempt, k, v)

    # -- submit -----------------------------------------------------------------------------------------
    def submit(self, report_id: int) -> None:
        """Run (or resume) the whole /submit → /upload → /fileinfo → /finish flow for one report."""
        with self._leased(report_id) as s:
            report = s.get(Report, report_id)
            assert report is not None
            if report.state == "finished":
                return
            if report.state == "retracted":
                raise ConflictError(f"report {report_id} was retracted; create a new report to file it again")
            if report.environment and report.environment != self.environment:
                raise ConflictError(
                    f"report {report_id} was opened on {report.environment!r}, not "
                    f"{self.environment!r}; submit it with HAVEN_NCMEC_ENV={report.environment}"
                )
            report.environment = self.environment
            client = self.client_for(self.environment)
            try:
                self._run(s, report, client)
                self._retract_orphans(s, report, client)
            except HavenError as exc:
                s.rollback()
                report = s.get(Report, report_id)
                assert report is not None
                if report.state not in TERMINAL_REPORT + ("rejected",):
                    report.state = "failed"
                report.last_error = f"{exc.code}: {exc.message}"
                self._commit(s, report, error=report.last_error)
                if report.state == "rejected":  # don't leave a half-filled report open at NCMEC
                    try:
                        self._retract_orphans(s, report, client)
                    except HavenError:
                        pass  # the error being raised matters more; the reconciler retries orphans
                raise
            finally:
                client.close()

    def _current(self, report: Report) -> Attempt | None:
        return report.attempts[-1] if report.attempts else None

    def _run(self, s: Session, report: Report, client: NcmecClient) -> None:
        case = case_from_dict(json.loads(report.case_json))
        new_attempts = 0
        while True:
            attempt = self._current(report)
            if attempt is not None and attempt.state == "submitting":
                # We died (or timed out) around /submit: the report may exist at NCMEC, but its id was
                # never recorded, so nobody can finish it and NCMEC discards it.
                self._set(attempt, "abandoned")
                self._commit(s, report, abandoned={"attempt": attempt.seq})
                continue
            if attempt is not None and attempt.state == "finished":
                return
            if attempt is not None and attempt.state == "tainted":
                self._retract_attempt(s, report, attempt, client)
                continue
            if attempt is None or attempt.state in DEAD_ENDS:
                if new_attempts >= MAX_NEW_ATTEMPTS:
                    raise RemoteError(
                        f"report {report.id}: gave up after {new_attempts} new NCMEC attempts "
                        "in this run; run submit again later"
                    )
                new_attempts += 1
                attempt = self._open(s, report, client)
                if attempt is None:
                    continue
            if attempt.state == "open" and not self._send_files(s, report, attempt, case, client):
                continue
            if attempt.state == "finishing" and self._finish(s, report, attempt, client):
                return

    def _open(self, s: Session, report: Report, client: NcmecClient) -> Attempt | None:
        body = report.report_xml.encode("utf-8")
        validate_bytes(body)  # never send an invalid report, even one edited in the database
        seq = len(report.attempts) + 1
        attempt = Attempt(
            report_id=report.id, seq=seq, state="submitting", created_at=utcnow(), updated_at=utcnow()
        )
        report.attempts.append(attempt)
        self._commit(s, report, submit_intent={"attempt": seq})
        FAULTS.reach("before_submit")
        try:
            r = client.submit(body)
        except OutcomeUnknownError as exc:
            self._set(attempt, "abandoned")
            self._commit(s, report, abandoned={"attempt": seq, "why": exc.message})
            return None
        except NcmecRejectedError as exc:
            self._set(attempt, "failed")
            self._commit(s, report, "rejected", rejected={"step": "submit", "why": exc.message})
            raise
        except RemoteError as exc:
            self._set(attempt, "failed")  # 5xx/unreachable after every retry: NCMEC did not take it
            self._commit(s, report, submit_failed={"attempt": seq, "why": exc.message})
            raise
        FAULTS.reach("after_submit")
        self._set(attempt, "open", ncmec_report_id=r.report_id)
        self._commit(s, report, "submitted", submitted={"attempt": seq, "reportId": r.report_id})
        return attempt

    def _send_files(
        self, s: Session, report: Report, attempt: Attempt, case: Case, client: NcmecClient
    ) -> bool:
        """Upload and describe every file; False when the attempt became unusable (a new one is needed)."""
        rid = attempt.ncmec_report_id
        assert rid is not None
        done = {u.file_idx: u for u in attempt.uploads}
        for f in report.files:
            up = done.get(f.idx)
            if up is not None and up.state == "uploading":
                # Died mid-upload: NCMEC may hold an extra copy we cannot name. Start clean.
                self._set(attempt, "tainted")
                self._commit(
                    s, report, tainted={"attempt": attempt.seq, "file": f.idx, "why": "crash during upload"}
                )
                return False
            if up is None:
                current = facts(self.source, f.uri)
                if current.sha256 != f.sha256:
                    raise ConflictError(
                        f"{f.uri}: file changed since the report was created "
                        f"(sha256 {current.sha256} != recorded {f.sha256}); create a new report"
                    )
                up = Upload(attempt_id=attempt.id, file_idx=f.idx, state="uploading", updated_at=utcnow())
                attempt.uploads.append(up)
                self._commit(s, report, upload_intent={"attempt": attempt.seq, "file": f.idx})
                FAULTS.reach("before_upload")
                try:
                    with self.source.open(f.uri) as stream:
                        r = client.upload(rid, f.name, stream)
                except OutcomeUnknownError as exc:
                    self._set(attempt, "tainted")
                    self._commit(
                        s, report, tainted={"attempt": attempt.seq, "file": f.idx, "why": exc.message}
                    )
                    return False
                except NcmecRejectedError as exc:
                    if self._gone(s, report, attempt, exc):
                        return False
                    raise
                FAULTS.reach("after_upload")
                if (r.hash or "").lower() != f.md5:
                    self._set(attempt, "tainted")
                    self._commit(
                        s,
                        report,
                        tainted={
                            "attempt": attempt.seq,
                            "file": f.idx,
                            "why": f"NCMEC received MD5 {r.hash}, sent {f.md5}",
                        },
                    )
                    return False
                up.state, up.ncmec_file_id, up.server_md5, up.updated_at = (
                    "uploaded",
                    r.file_id,
                    r.hash,
                    utcnow(),
                )
                self._commit(
                    s,
                    report,
                    "files_uploaded" if f.idx == len(report.files) - 1 else None,
                    uploaded={"attempt": attempt.seq, "file": f.idx, "fileId": r.file_id},
                )
            if up.state == "uploaded":
                details = build_file_details(rid, up.ncmec_file_id or "", case.files[f.idx], file_name=f.name)
                try:
                    client.fileinfo(to_bytes(details))
                except NcmecRejectedError as exc:
                    if self._gone(s, report, attempt, exc):
                        return False
                    raise
                FAULTS.reach("after_fileinfo")
                up.state, up.updated_at = "described", utcnow()
                self._commit(s, report, described={"attempt": attempt.seq, "file": f.idx})
        # Point of no return for this attempt: from here on only /finish (same reportId) is ever sent.
        self._set(attempt, "finishing")
        self._commit(s, report, "finishing", finish_intent={"attempt": attempt.seq, "reportId": rid})
        FAULTS.reach("before_finish")
        return True

    def _gone(self, s: Session, report: Report, attempt: Attempt, exc: NcmecRejectedError) -> bool:
        """NCMEC no longer has this (unfinished) report: mark it gone so a new attempt starts."""
        if exc.response_code in (REPORT_NOT_FOUND, ALREADY_RETRACTED):
            self._set(attempt, "gone")
            self._commit(s, report, gone={"attempt": attempt.seq, "why": exc.message})
            return True
        self._commit(s, report, "rejected", rejected={"attempt": attempt.seq, "why": exc.message})
        return False

    def _finish(self, s: Session, report: Report, attempt: Attempt, client: NcmecClient) -> bool:
        rid = attempt.ncmec_report_id
        assert rid is not None
        try:
            client.finish(rid)
            how = "finished"
        except NcmecRejectedError as exc:
            if exc.response_code == ALREADY_FINISHED:
                how = "already finished"  # an earlier /finish applied but its answer was lost
            elif exc.response_code in (REPORT_NOT_FOUND, ALREADY_RETRACTED):
                self._set(attempt, "gone")
                self._commit(s, report, gone={"attempt": attempt.seq, "why": exc.message})
                return False
            else:
                raise
        FAULTS.reach("after_finish")
        now = utcnow()
        self._set(attempt, "finished")
        report.ncmec_report_id = rid
        report.finished_at = now
        report.preservation_starts_at = now
        report.preservation_ends_at = now + PRESERVATION
        report.last_error = None
        self._commit(s, report, "finished", finished={"attempt": attempt.seq, "reportId": rid, "how": how})
        return True

    # -- retract ---------------------------------------------------------------------------------------
    def _retract_attempt(self, s: Session, report: Report, attempt: Attempt, client: NcmecClient) -> None:
        rid = attempt.ncmec_report_id
        assert rid is not None
        try:
            client.retract(rid)
            state = "retracted"
        except NcmecRejectedError as exc:
            if exc.response_code == ALREADY_RETRACTED:
                state = "retracted"
            elif exc.response_code == REPORT_NOT_FOUND:
                state = "gone"
            elif exc.response_code == ALREADY_FINISHED and attempt.state == "finishing":
                state = "finished"  # our /finish had applied: the report is filed
            else:
                raise
        self._set(attempt, state)
        self._commit(s, report, retracted_attempt={"attempt": attempt.seq, "reportId": rid, "result": state})

    def _retract_orphans(self, s: Session, report: Report, client: NcmecClient) -> None:
        """Retract every attempt whose NCMEC id we know and that will never be finished."""
        current = self._current(report)
        for attempt in report.attempts:
            ended = report.state in TERMINAL_REPORT + ("rejected",)
            if attempt.state in ("open", "tainted") and (attempt is not current or ended):
                try:
                    self._retract_attempt(s, report, attempt, client)
                except RemoteError as exc:  # best effort: NCMEC discards unfinished reports anyway
                    self._commit(
                        s, report, orphan_retract_failed={"attempt": attempt.seq, "why": exc.message}
                    )

    def retract(self, report_id: int) -> None:
        """Cancel a report that is not finished: retract every NCMEC attempt with a known id."""
        with self._leased(report_id) as s:
            report = s.get(Report, report_id)
            if report is None:
                raise NotFoundError(f"no report {report_id}")
            if report.state == "finished":
                raise ConflictError(
                    f"report {report_id} is finished (NCMEC report {report.ncmec_report_id}); "
                    "a finished report cannot be retracted through the API"
                )
            if report.state == "retracted":
                return
            live = [a for a in report.attempts if a.state in ("open", "tainted", "finishing")]
            if live:
                client = self.client_for(report.environment or self.environment)
                try:
                    for attempt in live:
                        self._retract_attempt(s, report, attempt, client)
                finally:
                    client.close()
            if any(a.state == "finished" for a in report.attempts):
                done = next(a for a in report.attempts if a.state == "finished")
                report.ncmec_report_id = done.ncmec_report_id
                report.finished_at = report.preservation_starts_at = utcnow()
                report.preservation_ends_at = report.finished_at + PRESERVATION
                self._commit(
                    s,
                    report,
                    "finished",
                    finished={"reportId": done.ncmec_report_id, "how": "found finished while retracting"},
                )
                raise ConflictError(
                    f"report {report_id} had already been finished at NCMEC "
                    f"(report {done.ncmec_report_id}); it cannot be retracted"
                )
            report.retracted_at = utcnow()
            self._commit(s, report, "retracted", retracted={"attempts": [a.seq for a in live]})

    # -- reconcile -------------------------------------------------------------------------------------
    def stuck(self, max_age: timedelta) -> list[int]:
        """Reports in flight (not draft, finished, retracted or rejected) untouched for ``max_age``."""
        cutoff = utcnow() - max_age
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(Report.id)
                    .where(
                        Report.state.not_in(("draft", "finished", "retracted", "rejected")),
                        Report.updated_at < cutoff,
                    )
                    .order_by(Report.id)
                )
            )

    def orphaned(self) -> list[int]:
        """Finished or retracted reports that still have an attempt open at NCMEC (retract failed earlier)."""
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(Report.id)
                    .join(Attempt)
                    .where(
                        Report.state.in_(TERMINAL_REPORT),
                        or_(Attempt.state == "open", Attempt.state == "tainted"),
                    )
                    .distinct()
                    .order_by(Report.id)
                )
            )

    def clean_orphans(self, report_id: int) -> None:
        with self._leased(report_id) as s:
            report = s.get(Report, report_id)
            assert report is not None
            client = self.client_for(report.environment or self.environment)
            try:
                self._retract_orphans(s, report, client)
            finally:
                client.close()
