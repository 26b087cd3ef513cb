"""The rules, vault and jobs commands as a user runs them (real processes, one SQLite database)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from haven.audit import AuditLog
from haven.config import Settings
from haven.evidence import LocalBlobStore, Vault
from haven.secrets import KeyRing, new_key
from haven.store.db import make_engine


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    key = base64.b64encode(new_key()).decode()
    return {
        "HAVEN_DATA_DIR": str(tmp_path / "data"),
        "HAVEN_DATABASE_URL": sqlite_url,
        "HAVEN_MASTER_KEY": key,
        "PATH": "/usr/bin:/bin",
    }


def haven(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "haven.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
        timeout=120,
    )


def test_rules_commands(env: dict[str, str], tmp_path: Path) -> None:
    doc = {
        "rulesets": {"platform": {"mode": "all"}},
        "rules": [
            {
                "name": "severe",
                "ruleset": "platform",
                "when": {"min_severity": 3},
                "actions": ["block", {"type": "webhook", "url": "https://h.example/x", "secret": "s3cret"}],
            },
            {"name": "any", "ruleset": "platform", "actions": ["deterrence"]},
        ],
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc))
    r = haven(env, "rules", "import", str(path))
    assert r.returncode == 0 and "2 added, 0 updated, 0 removed" in r.stdout, r.stderr
    exported = haven(env, "rules", "export").stdout
    assert "s3cret" not in exported and "secret_sealed" in exported
    (tmp_path / "again.yaml").write_text(exported)
    assert (
        "0 added, 0 updated, 0 removed" in haven(env, "rules", "import", str(tmp_path / "again.yaml")).stdout
    )
    match = json.dumps(
        {"path": "a.jpg", "matches": [{"bank": "b", "signal": "pdq", "distance": 2, "severity": 4}]}
    )
    dry = haven(env, "rules", "dry-run", "-", "--json", stdin=match)
    assert json.loads(dry.stdout)["fires"] == [
        {"rule": "severe", "ruleset": "platform", "actions": ["block", "webhook"]},
        {"rule": "any", "ruleset": "platform", "actions": ["deterrence"]},
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    actions: [explode]\n")
    r = haven(env, "rules", "import", str(bad))
    assert r.returncode == 2 and "unknown action 'explode'" in r.stderr
    assert haven(env, "rules", "remove", "any").returncode == 0
    assert haven(env, "rules", "remove", "any").returncode == 2
    assert haven(env, "audit", "verify").returncode == 0


def test_vault_export_verify_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings(
        data_dir=Path(env["HAVEN_DATA_DIR"]),
        database_url=env["HAVEN_DATABASE_URL"],
        master_key=env["HAVEN_MASTER_KEY"],
    )
    engine = make_engine(env["HAVEN_DATABASE_URL"])
    vault = Vault(
        engine, KeyRing.load(settings), LocalBlobStore(settings.data_dir / "vault"), AuditLog(engine)
    )
    item = vault.put(
        b"benign stand-in bytes", name="x.jpg", media_type="image/jpeg", context={}, actor="test"
    )
    engine.dispose()
    pkg = tmp_path / "case.zip"
    r = haven(env, "vault", "export", str(item.id), "--out", str(pkg), "--reason", "LE request 1")
    assert r.returncode == 0, r.stderr
    ok = haven(env, "vault", "verify", str(pkg), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, data.replace(b"stand-in", b"stand-out"))
    refused = haven(env, "vault", "verify", str(bad))
    assert refused.returncode == 3 and "package refused" in refused.stderr
    held = haven(env, "vault", "hold", str(item.id), "--reason", "preservation letter")
    assert held.returncode == 0 and "on hold" in held.stdout
    assert haven(env, "vault", "purge").returncode == 0
    rotated = haven(env, "vault", "rotate-key")
    assert (
        rotated.returncode == 0 and "re-wrapped 0 data key(s)" in rotated.stdout
    )  # already under the newest
    listing = haven(env, "audit", "list", "--target", f"vault:{item.id}", "--json").stdout
    assert [json.loads(x)["event"] for x in listing.splitlines()] == [
        "vault.hold",
        "vault.export",
        "vault.read_context",
        "vault.put",
    ]


def test_jobs_dead_empty_and_retry_unknown(env: dict[str, str]) -> None:
    r = haven(env, "jobs", "dead", "--json")
    assert r.returncode == 0 and r.stdout == ""
    assert haven(env, "jobs", "retry", "99").returncode == 2
