"""Putting the pieces together for a shell: one database engine, the audit log, the job queue with every
job registered (actions, the retention purge, audit anchors), the rules, the review queue and the vault.

``haven serve``, ``haven worker`` and the CLI commands all build this one object, so an enqueuing API
worker and a job worker agree on job names and settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from haven.actions.engine import ActionEngine
from haven.actions.review_queue import ReviewQueue
from haven.actions.settings import ActionSettings
from haven.actions.store import RuleStore
from haven.audit import AuditLog, append_anchor
from haven.config import Settings
from haven.errors import UsageError
from haven.evidence import LocalBlobStore, Vault, VaultSettings
from haven.jobs import JobQueue, JobWorker
from haven.secrets import KeyRing

log = logging.getLogger("haven.actions")


@dataclass(frozen=True)
class RuntimeSettings:
    """The action side's settings, built once by a shell (``from_env``) and passed in."""

    actions: ActionSettings = field(default_factory=ActionSettings)
    vault: VaultSettings | None = None  # None: VaultSettings.defaults(the base settings)
    reporting: Any = None  # haven.reporting.settings.ReportingSettings, for the report-draft action
    create_master_key: bool = False  # dev mode (make run): create a master key file on first use
    exchanges: Any = None  # haven.exchanges.settings.ExchangeSettings: the scheduled exchange fetches

    @classmethod
    def from_env(cls, base: Settings, *, dev: bool = False) -> RuntimeSettings:
        from haven.exchanges.settings import ExchangeSettings
        from haven.reporting.settings import ReportingSettings

        return cls(
            actions=ActionSettings.from_env(),
            vault=VaultSettings.from_env(base),
            reporting=ReportingSettings.from_env(),
            create_master_key=dev,
            exchanges=ExchangeSettings.from_env(),
        )


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    audit: AuditLog
    queue: JobQueue
    rules: RuleStore
    reviews: ReviewQueue
    actions: ActionEngine
    action_settings: ActionSettings
    vault_settings: VaultSettings
    reporting: Any = None
    clock: Callable[[], datetime] | None = None
    _ring: KeyRing | None = field(default=None, repr=False)
    _vault: Vault | None = field(default=None, repr=False)

    def vault(self) -> Vault:
        if self._vault is None:
            if self._ring is None:
                raise UsageError(
                    "the evidence vault needs the master key ring (haven secrets init, or set "
                    "HAVEN_MASTER_KEY / HAVEN_MASTER_KEY_FILE)"
                )
            self._vault = Vault(
                self.engine,
                self._ring,
                LocalBlobStore(self.vault_settings.vault_dir),
                self.audit,
                retention=self.vault_settings.retention,
                clock=self.clock,
            )
        return self._vault

    def report_service(self) -> Any:
        from haven.reporting.service import ReportService
        from haven.reporting.settings import ReportingSettings

        return ReportService(
            self.settings.resolved_database_url,
            settings=self.settings,
            reporting=self.reporting or ReportingSettings(),
            file_source=self.vault(),
        )

    def worker(self, threads: int | None = None) -> JobWorker:
        return self.queue.worker(threads=threads or self.action_settings.worker_threads)

    def retry_dead(self, dead_id: int, *, actor: str) -> str:
        """Run a dead-lettered job again; an action's run is made pending first (else the job, finding it
        dead, would do nothing). Returns the new message id."""
        letter = self.queue.dead_letter(dead_id)
        if letter.retried_at_ms is not None:
            raise UsageError(f"dead letter {dead_id} was already retried")
        if letter.job.startswith("action.") and letter.args:
            self.actions.revive(int(letter.args[0]))
        message_id = self.queue.retry_dead(dead_id)
        self.audit.record(
            "job.retry", actor, f"dead_letter:{dead_id}", {"job": letter.job, "message": message_id}
        )
        return message_id

    # -- scheduled jobs --------------------------------------------------------------------------------
    def purge(self) -> list[int]:
        """The retention job: move each item's clock to its report's filing time, then purge what is due."""
        vault = self.vault()
        try:
            reports = self.report_service()
        except Exception:  # noqa: BLE001 - reporting not configured: retention counts from the quarantine
            reports = None
        if reports is not None:
            for item_id, report_id, reported_at in vault.reported_items():
                try:
                    finished = reports.get(report_id).get("finished_at")
                except Exception:
                    log.warning(
                        "vault item %s: report %s unreadable; its retention stays as recorded",
                        item_id,
                        report_id,
                        exc_info=True,
                    )
                    continue
                if finished:
                    at = datetime.fromisoformat(finished)
                    if reported_at is None or at > reported_at:
                        vault.mark_reported(item_id, report_id, at=at, actor="system:retention")
            reports.close()
        return vault.purge_due()

    def anchor(self) -> None:
        """The audit anchor job: append the chain head to the anchor file."""
        head = self.audit.head()
        if head is not None and self.action_settings.anchor_file is not None:
            append_anchor(self.action_settings.anchor_file, head)

    def close(self) -> None:
        self.actions.close()
        self.queue.close()


def build_runtime(
    settings: Settings,
    engine: Engine,
    rs: RuntimeSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    lease_seconds: float | None = None,
) -> Runtime:
    """Everything the action side needs, over ``engine`` (already migrated by the shell)."""
    # Every model is defined before any thread queries: SQLAlchemy configures all mappers on first use, and a
    # model module half-imported by a job thread at that moment breaks every query in the process.
    from sqlalchemy.orm import configure_mappers

    import haven.reporting.models  # noqa: F401

    configure_mappers()
    rs = rs or RuntimeSettings()
    actions = rs.actions
    vault = rs.vault or VaultSettings.defaults(settings)
    reporting = rs.reporting
    try:
        ring: KeyRing | None = KeyRing.load(settings, create=rs.create_master_key)
    except UsageError as exc:
        log.warning(
            "no master key ring (%s): vault, webhook secrets and reports are unavailable", exc.message
        )
        ring = None
    audit = AuditLog(engine, clock=clock)
    queue = JobQueue.from_url(
        actions.jobs_url,
        engine,
        lease_seconds=lease_seconds if lease_seconds is not None else actions.job_lease_seconds,
    )
    rules = RuleStore(engine, audit, ring)
    reviews = ReviewQueue(engine, clock=clock)
    holder: dict[str, Runtime] = {}
    engine_ = ActionEngine(
        engine,
        rules,
        queue,
        audit,
        actions,
        reviews,
        vault=_late(holder, "vault"),
        reports=_late(holder, "report_service"),
    )
    rt = Runtime(
        settings, engine, audit, queue, rules, reviews, engine_, actions, vault, reporting, clock, ring
    )
    holder["rt"] = rt
    engine_.register_jobs()
    queue.register("vault.purge", rt.purge, max_retries=3)
    queue.every(vault.purge_interval, "vault.purge")
    if actions.anchor_file is not None:
        queue.register("audit.anchor", rt.anchor, max_retries=3)
        queue.every(actions.anchor_interval, "audit.anchor")
    from haven.exchanges.jobs import register_jobs
    from haven.exchanges.settings import ExchangeSettings

    url = engine.url.render_as_string(hide_password=False)
    register_jobs(queue, url, ring, rs.exchanges or ExchangeSettings())
    return rt


def _late(holder: dict[str, Runtime], method: str) -> Callable[[], Any]:
    """A factory calling ``method`` of the runtime once it exists (the engine is built before it)."""

    def call() -> Any:
        return getattr(holder["rt"], method)()

    return call
