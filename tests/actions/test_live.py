"""Every action through a live service, on SQLite and PostgreSQL: block, deterrence, quarantine into the
vault, review queue, webhooks (one that fails twice then succeeds, one that always fails and ends in the
dead letter; signatures verified), a CyberTipline draft; and a retried upload that doubles nothing."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from haven.actions.receiver import receiving
from haven.actions.runtime import RuntimeSettings
from haven.actions.settings import ActionSettings
from haven.config import Settings
from haven.evidence.settings import VaultSettings
from haven.hashing import hash_file
from haven.secrets import new_key
from haven.service.settings import ServiceSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from service_live import LiveService, start_service

PHOTOS = sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "photos").glob("*.jpg"))
SECRET = b"receiver-shared-secret"
REPORTER = {"first_name": "Sam", "last_name": "Safety", "email": "safety@example.org", "company": "Example"}


def settings_for(tmp: Path, db_url: str, **actions: object) -> ServiceSettings:
    base = Settings(
        data_dir=tmp / "data", database_url=db_url, master_key=base64.b64encode(new_key()).decode()
    )
    act = replace(
        ActionSettings(webhook_backoff=0.05, webhook_max_backoff=0.2, webhook_tries=5, job_lease_seconds=5),
        **actions,
    )  # type: ignore[arg-type]
    rs = RuntimeSettings(actions=act, vault=VaultSettings(vault_dir=tmp / "vault"))
    return ServiceSettings(base=base, refresh_interval=0.1, runtime=rs)


@pytest.fixture
def live(tmp_path: Path, db_url: str) -> Iterator[LiveService]:
    server, svc = start_service(settings_for(tmp_path, db_url))
    with server:
        yield svc
    svc.keys.close()


def bank_with(svc: LiveService, photo: Path) -> None:
    h = hash_file(photo, ("pdq", "md5"))
    with svc.client(svc.writer) as c:
        assert c.post("/v1/banks", json={"name": "ncmec", "source": "test"}).status_code == 201
        r = c.post(
            "/v1/banks/ncmec/entries",
            json={
                "entries": [
                    {"signal": "pdq", "value": h.get("pdq"), "category": "A1"},
                    {"signal": "md5", "value": h.get("md5"), "category": "A1"},
                ]
            },
        )
        assert r.status_code == 201, r.text
    deadline = time.monotonic() + 10
    with svc.client(svc.match) as c:
        while c.post("/v1/match/hashes", json={"md5": h.get("md5")}).json()["matched"] is False:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def wait_runs(svc: LiveService, want: int, timeout: float = 60.0) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    with svc.client(svc.admin) as c:
        while True:
            r = c.get("/v1/actions/runs")
            assert r.status_code == 200, r.text
            runs = r.json()["runs"]
            if len(runs) >= want and all(r["status"] != "pending" for r in runs):
                return list(runs)
            assert time.monotonic() < deadline, [
                (r["action"], r["tries"], r["error"]) for r in runs if r["status"] == "pending"
            ]
            time.sleep(0.1)


def upload(svc: LiveService, photo: Path) -> dict:  # type: ignore[type-arg]
    with svc.client(svc.match) as c:
        r = c.post("/v1/match", files={"file": (photo.name, photo.read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
        return dict(r.json())


def test_every_action_through_the_service(live: LiveService) -> None:
    photo = PHOTOS[0]
    bank_with(live, photo)
    rt = live.app.state.haven.runtime  # type: ignore[attr-defined]
    with (
        receiving(SECRET, [503, 503, 200]) as flaky,
        receiving(SECRET, [500]) as broken,
        live.client(live.admin) as admin,
    ):
        rules = [
            {
                "name": "known-severe",
                "ruleset": "platform",
                "when": {"banks": ["ncmec"], "min_severity": 1},
                "actions": [
                    "block",
                    "quarantine",
                    {"type": "review", "queue": "csam"},
                    {"type": "webhook", "url": flaky.url, "secret": SECRET.decode()},
                    {"type": "report", "reporter": REPORTER},
                    "deterrence",
                ],
            },
            {
                "name": "notify-broken",
                "ruleset": "platform",
                "when": {"signals": ["pdq", "md5"]},
                "actions": [
                    {"type": "webhook", "url": broken.url, "secret": SECRET.decode(), "max_tries": 3}
                ],
            },
            {"name": "never", "ruleset": "platform", "when": {"banks": ["other"]}, "actions": ["block"]},
        ]
        assert admin.put("/v1/rulesets/platform", json={"mode": "all"}).status_code == 200
        for rule in rules:
            r = admin.post("/v1/rules", json=rule)
            assert r.status_code == 201, r.text
            assert "secret" not in json.dumps(r.json()).replace("secret_sealed", "")
        dry = admin.post(
            "/v1/rules/dry-run",
            json={"matches": [{"bank": "ncmec", "signal": "md5", "distance": 0, "severity": 4}]},
        ).json()
        assert [f["rule"] for f in dry["fires"]] == ["known-severe", "notify-broken"]

        started = time.monotonic()
        result = upload(live, photo)
        verdict = result["verdict"]
        assert verdict["action"] == "block" and verdict["rules"] == ["known-severe", "notify-broken"]
        assert "Stop It Now" in json.dumps(verdict["deterrence"]["resources"])
        assert sorted(a["action"] for a in verdict["actions"]) == [
            "quarantine",
            "report",
            "review",
            "webhook",
            "webhook",
        ]
        # the match record, written in the rules' transaction, holds the same verdict
        with live.client(live.match) as c:
            recorded = c.get(f"/v1/matches/{result['content_id']}").json()["result"]
        assert recorded["verdict"] == verdict
        runs = wait_runs(live, 7)
        took = time.monotonic() - started
        by = {(r["rule"], r["action"]): r for r in runs}
        assert {k: v["status"] for k, v in by.items()} == {
            ("known-severe", "block"): "done",
            ("known-severe", "deterrence"): "done",
            ("known-severe", "quarantine"): "done",
            ("known-severe", "review"): "done",
            ("known-severe", "webhook"): "done",
            ("known-severe", "report"): "done",
            ("notify-broken", "webhook"): "dead",
        }, runs

        # webhook: failed twice, then delivered; the same delivery id and body each time, all signed
        assert flaky.count == 3 and [d.status for d in flaky.deliveries] == [503, 503, 200]
        assert all(d.signature_ok for d in flaky.deliveries)
        assert len({d.headers["Haven-Delivery"] for d in flaky.deliveries}) == 1
        assert len({d.body for d in flaky.deliveries}) == 1
        body = json.loads(flaky.deliveries[0].body)
        assert body["rule"] == "known-severe" and body["hashes"]["sha256"] == result["sha256"]
        assert by[("known-severe", "webhook")]["tries"] == 3
        # the always-failing receiver: three tries, then the dead letter, visible with its error
        assert broken.count == 3 and all(d.signature_ok for d in broken.deliveries)
        dead_run = by[("notify-broken", "webhook")]
        assert "HTTP 500" in dead_run["error"]
        dead = admin.get("/v1/jobs/dead").json()["dead"]
        assert len(dead) == 1 and dead[0]["job"] == "action.webhook" and "HTTP 500" in dead[0]["error"]
        assert dead[0]["tries"] == 3

        # quarantine: the bytes are in the vault, encrypted at rest, and read back intact
        item_id = by[("known-severe", "quarantine")]["result"]["vault_item"]
        vault = rt.vault()
        assert vault.read(item_id, actor="test", purpose="check") == photo.read_bytes()
        records = vault.context(item_id, actor="test")
        assert records[0]["data"]["matches"][0]["bank"] == "ncmec"
        # review: queued in the console's queue, pointing at the vault item
        task = rt.reviews.lease_next("reviewer:1", queues=["csam"])
        assert task is not None and task.vault_item_id == item_id and task.sha256 == result["sha256"]
        assert rt.reviews.lease_next("reviewer:2", queues=["csam"]) is None
        # report: a validated draft whose file is the vault item
        report_id = by[("known-severe", "report")]["result"]["report"]
        report = rt.actions.reports.get(report_id)
        assert report["state"] == "draft" and report["files"][0]["uri"] == f"vault:{item_id}"
        assert report["files"][0]["sha256"] == result["sha256"]

        # a retried upload: same verdict, nothing new started, nothing delivered twice
        again = upload(live, photo)
        assert again["verdict"]["action"] == "block" and again["verdict"]["actions"] == []
        time.sleep(0.5)
        assert len(admin.get("/v1/actions/runs").json()["runs"]) == 7
        assert flaky.count == 3 and broken.count == 3
        assert len(vault.items()) == 1 and rt.reviews.pending("csam") == 1

        # everything is on the audit chain, which verifies
        events = {e.event for e in rt.audit.entries()}
        assert {"rule.add", "vault.put", "action.webhook", "action.dead", "action.report"} <= events
        assert rt.audit.verify().ok
        assert took < 30


def test_dead_letter_retry_through_the_api(live: LiveService) -> None:
    photo = PHOTOS[1]
    bank_with(live, photo)
    with receiving(SECRET, [500, 500, 200]) as hook, live.client(live.admin) as admin:
        admin.post(
            "/v1/rules",
            json={
                "name": "hook",
                "actions": [{"type": "webhook", "url": hook.url, "secret": SECRET.decode(), "max_tries": 2}],
            },
        )
        upload(live, photo)
        [run] = wait_runs(live, 1)
        assert run["status"] == "dead"
        [dead] = admin.get("/v1/jobs/dead").json()["dead"]
        assert admin.post(f"/v1/jobs/dead/{dead['id']}/retry").status_code == 200
        deadline = time.monotonic() + 30
        while admin.get("/v1/actions/runs").json()["runs"][0]["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert hook.count == 3 and admin.get("/v1/jobs/dead").json()["dead"] == []


def test_hash_queries_fire_rules_but_quarantine_nothing(live: LiveService) -> None:
    photo = PHOTOS[2]
    bank_with(live, photo)
    h = hash_file(photo, ("pdq",))
    with live.client(live.admin) as admin:
        admin.post("/v1/rules", json={"name": "q", "actions": ["block", "quarantine"]})
    with live.client(live.match) as c:
        r = c.post("/v1/match/hashes", json={"pdq": h.get("pdq")}).json()  # the fast path defers to the route
    assert r["verdict"]["action"] == "block"
    [run] = [x for x in wait_runs(live, 2) if x["action"] == "quarantine"]
    assert run["status"] == "done" and run["result"]["vault_item"] is None
    with live.client(live.match) as c:
        miss = c.post("/v1/match/hashes", json={"md5": "0" * 32}).json()
    assert "verdict" not in miss


def test_rules_api_validation_and_auth(live: LiveService) -> None:
    with live.client(live.match) as c:
        assert c.get("/v1/rules").status_code == 403
    with live.client(live.admin) as admin:
        bad = admin.post("/v1/rules", json={"name": "x", "actions": [{"type": "webhook", "url": "ftp://x"}]})
        assert bad.status_code == 422 and "http(s) url" in bad.json()["message"]
        assert admin.post("/v1/rules", json={"name": "x", "actions": ["explode"]}).status_code == 422
        assert admin.post("/v1/rules", json={"name": "x", "actions": ["block"]}).status_code == 201
        assert admin.post("/v1/rules", json={"name": "x", "actions": ["block"]}).status_code == 409
        r = admin.put(
            "/v1/rules/x", json={"name": "x", "when": {"min_severity": 3}, "actions": ["deterrence"]}
        )
        assert r.status_code == 200 and r.json()["when"] == {"min_severity": 3}
        assert admin.delete("/v1/rules/x").status_code == 200
        assert admin.delete("/v1/rules/x").status_code == 404
        assert admin.put("/v1/rulesets/default", json={"mode": "sometimes"}).status_code == 400
    _ = httpx  # the client library the helpers use
