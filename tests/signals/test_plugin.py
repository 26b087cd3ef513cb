"""A signal from another package: ``tests/signals/toy_plugin`` is pip-installed into a folder and offers
two toy signals (``ahash``, a perceptual image hash matched by distance; ``crc32``, a digest matched
exactly) through the ``haven.signals`` entry-point group. With no Haven file changed, they are hashed,
banked, exported, imported and matched through the real CLI and a real ``haven serve``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

PLUGIN = Path(__file__).parent / "toy_plugin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy package, installed by pip (a wheel built from its pyproject, entry points and all)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        cwd=build,
        timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert list(target.glob("haven_toy_signals-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def env(site: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(site),
        "HAVEN_DATA_DIR": str(tmp_path / "data"),
        "HAVEN_DATABASE_URL": f"sqlite:///{tmp_path / 'haven.db'}",
        "COLUMNS": "200",
    }


def haven(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "haven.cli.main", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_toy_signals_through_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    photo, other = sorted(PHOTOS.glob("*.jpg"))[:2]
    hashed = haven(env, "hash", "--json", str(photo))
    assert hashed.returncode == 0, hashed.stderr
    values = json.loads(hashed.stdout)
    assert len(values["ahash"]) == 16 and len(values["crc32"]) == 8 and values["pdq"]

    assert haven(env, "bank", "create", "toy").returncode == 0
    added = haven(env, "bank", "add", "toy", "--ahash", values["ahash"], "--crc32", values["crc32"].upper())
    assert added.returncode == 0, added.stderr
    listed = haven(env, "bank", "list")
    assert "ahash" in listed.stdout and "crc32" in listed.stdout

    out = tmp_path / "toy.csv"
    exported = haven(env, "bank", "export", "toy", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    rows = out.read_text()
    assert f"ahash,{values['ahash']}" in rows and f"crc32,{values['crc32']}" in rows
    assert haven(env, "bank", "create", "toy-copy").returncode == 0
    imported = haven(env, "bank", "import", "toy-copy", str(out), "--json")
    assert imported.returncode == 0 and json.loads(imported.stdout)["rows_added"] == 2, imported.stderr

    matched = haven(env, "match", "--json", str(photo))
    assert matched.returncode == 1, matched.stderr  # exit 1: a match
    line = json.loads(matched.stdout)
    assert line["ahash"] == values["ahash"]
    found = {(m["bank"], m["signal"], m["distance"]) for m in line["matches"]}
    assert found == {
        ("toy", "ahash", 0),
        ("toy", "crc32", 0),
        ("toy-copy", "ahash", 0),
        ("toy-copy", "crc32", 0),
    }
    clean = haven(env, "match", "--json", str(other))
    assert clean.returncode == 0 and json.loads(clean.stdout)["matches"] == [], clean.stderr


def test_toy_signals_through_the_service(env: dict[str, str], tmp_path: Path) -> None:
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    values = json.loads(haven(env, "hash", "--json", str(photo)).stdout)
    assert haven(env, "bank", "create", "toy").returncode == 0
    assert (
        haven(env, "bank", "add", "toy", "--ahash", values["ahash"], "--crc32", values["crc32"]).returncode
        == 0
    )
    key = haven(env, "keys", "create", "toy-test", "--scope", "match", "--json")
    assert key.returncode == 0, key.stderr
    secret = json.loads(key.stdout)["key"]
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    from haven.secrets import encode_key, new_key

    server = subprocess.Popen(
        [sys.executable, "-m", "haven.cli.main", "serve", "--port", str(port), "--log-level", "warning"],
        env={**env, "HAVEN_MASTER_KEY": encode_key(new_key())},  # serve loads the master key ring at start-up
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as c:
            while True:
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "serve.log"
                ).read_text()
                time.sleep(0.2)
            schema = c.get("/openapi.json").json()["components"]["schemas"]["HashQuery"]["properties"]
            assert {"ahash", "crc32"} <= set(schema)
            near = f"{int(values['ahash'], 16) ^ 0b11:016x}"  # 2 bits away: within ahash's threshold of 6
            r = c.post("/v1/match/hashes", json={"ahash": near})
            assert r.status_code == 200, r.text
            assert [(m["signal"], m["distance"]) for m in r.json()["matches"]] == [("ahash", 2)]
            r = c.post("/v1/match/hashes", json={"crc32": values["crc32"]})
            assert [m["signal"] for m in r.json()["matches"]] == ["crc32"]
            r = c.post("/v1/match", files={"file": ("p.jpg", photo.read_bytes(), "image/jpeg")})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["ahash"] == values["ahash"] and {m["signal"] for m in body["matches"]} == {
                "ahash",
                "crc32",
            }
            assert c.post("/v1/match/hashes", json={"ahash": "zz"}).status_code == 422
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
