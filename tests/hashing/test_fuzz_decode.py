"""A short, real atheris run of the decode fuzzer (the long run is `make fuzz`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")
FUZZER = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_decode.py"


def test_decode_fuzzer_finds_no_crash_in_a_short_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    proc = subprocess.run(
        [sys.executable, str(FUZZER), str(corpus), "-runs=500", "-seed=1", "-rss_limit_mb=2048"],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 500 runs" in proc.stderr
    assert any(corpus.iterdir())  # seeds were made and used
