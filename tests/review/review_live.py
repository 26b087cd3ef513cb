"""A running ``haven serve`` app (one module-scoped server) with a bank, a rule whose ``review`` action feeds
the console, and uploads of shared photos that matched it: the real path from upload to review item."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from service_live import PASSWORD, LiveService, UiClient, service_settings, start_service

from haven.actions.runtime import RuntimeSettings
from haven.actions.settings import ActionSettings
from haven.auth.totp import TotpParams
from haven.evidence import VaultSettings
from haven.hashing import hash_file

PHOTOS = sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "photos").glob("*.jpg"))
REPORTER = {"first_name": "Sam", "last_name": "Safety", "email": "safety@example.org", "company": "Example"}
_LAST_STEP: dict[bytes, int] = {}

__all__ = ["PASSWORD", "PHOTOS", "ReviewClient", "fresh_code", "review_live", "upload_matches"]


def fresh_code(secret: bytes) -> str:
    """A TOTP code for a time step this secret has not used yet (a used step is a replay)."""
    step = max(int(time.time()) // 30, _LAST_STEP.get(secret, -1) + 1)
    while step > int(time.time()) // 30 + 1:
        time.sleep(1)
    _LAST_STEP[secret] = step
    return TotpParams().code(secret, step * 30 + 1)


class ReviewClient(UiClient):
    def sign_in(self, username: str, password: str = PASSWORD, totp: bytes | None = None):  # type: ignore[no-untyped-def,override]
        r = self.submit("/review/login", "/review/login", {"username": username, "password": password})
        if totp is not None and r.status_code == 303 and r.headers["location"] == "/review/login/totp":
            r = self.submit("/review/login/totp", "/review/login/totp", {"code": fresh_code(totp)})
        return r


def upload_matches(svc: LiveService, photos: list[Path], *, want: int, timeout: float = 60.0) -> None:
    """Upload ``photos`` to /v1/match and wait until ``want`` review items are pending."""
    reviews = svc.app.state.haven.runtime.reviews  # type: ignore[attr-defined]
    with svc.client(svc.match) as c:
        for p in photos:
            r = c.post("/v1/match", files={"file": (p.name, p.read_bytes(), "image/jpeg")})
            assert r.status_code == 200 and r.json()["matched"], r.text
    deadline = time.monotonic() + timeout
    while len([t for t in reviews.items() if t.state == "pending"]) < want:
        assert time.monotonic() < deadline, "review items did not arrive"
        time.sleep(0.1)


def bank(svc: LiveService, name: str, photos: list[Path], category: str) -> None:
    entries = [
        {"signal": "md5", "value": hash_file(p, ("md5",)).get("md5"), "category": category} for p in photos
    ]
    with svc.client(svc.writer) as c:
        assert c.post("/v1/banks", json={"name": name, "source": "test"}).status_code == 201
        assert c.post(f"/v1/banks/{name}/entries", json={"entries": entries}).status_code == 201


@pytest.fixture(scope="module")
def review_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    tmp = tmp_path_factory.mktemp("review")
    settings = service_settings(tmp)
    settings = replace(
        settings,
        runtime=RuntimeSettings(
            actions=ActionSettings(job_lease_seconds=5), vault=VaultSettings(vault_dir=tmp / "vault")
        ),
    )
    server, svc = start_service(settings)
    with server:
        review: Any = svc.app.state.review  # type: ignore[attr-defined]
        from haven.auth.actor import Actor

        admin = Actor(kind="user", id=0, name="setup", realm="staff", roles=("admin",))
        review.configure(admin, {"reporter": REPORTER})
        with svc.client(svc.admin) as c:
            assert c.put("/v1/rulesets/platform", json={"mode": "all"}).status_code == 200
            rule = {
                "name": "to-review",
                "ruleset": "platform",
                "when": {"banks": ["ncmec", "partner"]},
                "actions": ["review"],
            }
            assert c.post("/v1/rules", json=rule).status_code == 201
        yield svc
    svc.close()
