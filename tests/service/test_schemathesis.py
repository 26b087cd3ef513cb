"""schemathesis against the live OpenAPI document with an admin key: no response may be a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from service_live import live, wait_ready

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def run_schemathesis(live, max_examples: int, tmp: Path, phases: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    wait_ready(live.url)
    st = Path(sys.executable).with_name("schemathesis")
    cmd = [str(st), "run", f"{live.url}/openapi.json", "-H", f"Authorization: Bearer {live.admin}",
           "--checks", CHECKS, "-n", str(max_examples), "--seed", "20261126", "--workers", "1",
           "--phases", phases, "--request-timeout", "30", "--max-failures", "20"]
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp, env=env)


def test_no_server_errors(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Fuzzing only, bounded, for `make test`; the coverage phase (about 700 cases) runs in the slow test.
    result = run_schemathesis(live, 3, tmp_path, "examples,fuzzing")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "generated" in result.stdout  # it really ran test cases


@pytest.mark.slow
def test_no_server_errors_long(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_schemathesis(live, 100, tmp_path, "examples,coverage,fuzzing")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
