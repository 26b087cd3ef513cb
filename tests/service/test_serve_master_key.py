"""``haven serve`` loads the master key ring at start-up: a key file others can read, a missing one, or
one inside the data folder stops it before it listens; only the dev path (``--dev-key``, ``make run``)
creates a key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service_live import free_port

from haven.secrets import create_key_file


def _flat(text: str) -> str:
    """The error text without the line breaks the terminal renderer puts in long paths."""
    return "".join(text.split())


def _serve(tmp_path: Path, key_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAVEN_DATA_DIR": str(tmp_path / "data"), "HAVEN_DATABASE_URL": "",
           "HAVEN_MASTER_KEY_FILE": str(key_file)}
    env.pop("HAVEN_MASTER_KEY", None)
    command = [sys.executable, "-m", "haven.cli.main", "serve", "--port", str(free_port()), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_a_key_file_others_can_read_is_refused_at_start_up(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "master.key"
    create_key_file(key_file)
    key_file.chmod(0o644)
    done = _serve(tmp_path, key_file)
    assert done.returncode == 2, done.stdout + done.stderr
    assert _flat("readable by others (mode 644)") in _flat(done.stderr)
    assert _flat(f"chmod 600 {key_file}") in _flat(done.stderr)
    assert "Uvicorn running" not in done.stderr and "Haven service on" not in done.stdout


def test_a_missing_key_file_is_refused_unless_in_the_dev_path(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "master.key"
    done = _serve(tmp_path, key_file)
    assert done.returncode == 2 and _flat("haven secrets init") in _flat(done.stderr), done.stderr
    assert not key_file.exists()


def test_a_key_file_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "master.key"
    create_key_file(key_file)
    done = _serve(tmp_path, key_file)
    assert done.returncode == 2 and _flat("inside the data folder") in _flat(done.stderr), done.stderr


def test_the_dev_path_creates_the_key_outside_the_data_folder(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "haven" / "master.key"
    command = [sys.executable, "-m", "haven.cli.main", "serve", "--dev-key", "--port", str(free_port())]
    proc = subprocess.Popen(command,
                            env={**os.environ, "HAVEN_DATA_DIR": str(tmp_path / "data"),
                                 "HAVEN_DATABASE_URL": "", "HAVEN_MASTER_KEY_FILE": str(key_file)},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        assert "created local API key" in proc.stdout.readline()
        assert key_file.is_file() and key_file.stat().st_mode & 0o777 == 0o600
        assert not list((tmp_path / "data").rglob("*.key"))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()
