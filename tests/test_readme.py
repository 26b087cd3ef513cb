"""The README's "Your first hour" block, run as written: one bash session, every command in order, each
exit code and every output line shown checked (only the temporary folder's name, timings and the
progress bars, which go to a terminal, are masked)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
TMP = re.compile(r"/tmp/tmp\.[A-Za-z0-9]+")
SECONDS = re.compile(r"\b\d+(\.\d+)? s\b")


@dataclass
class Step:
    command: str
    shown: list[str] = field(default_factory=list)
    exit: int = 0


def first_hour() -> list[Step]:
    section = README.split("## Your first hour", 1)[1]
    block = section.split("```\n", 2)[1]
    steps: list[Step] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif m := re.fullmatch(r"\(exit (\d+)\)", line.strip()):
            steps[-1].exit = int(m[1])
        else:
            steps[-1].shown.append(line)
    return steps


def mask(text: str, data_dir: str) -> str:
    """``text`` with the run's data folder as ``<data>``: its full path, or the relative one that ``haven``
    shows when the checkout lies next to it (``../tmp.X`` from ``/tmp/checkout``)."""
    near = os.path.relpath(data_dir, REPO)
    for form in (data_dir, near):
        text = text.replace(form, "<data>")
    return SECONDS.sub("N s", TMP.sub("<data>", text)).rstrip()


def test_first_hour_runs_as_written(tmp_path: Path) -> None:
    steps = first_hour()
    assert [s.command.split()[0] for s in steps[:3]] == ["make", "source", "export"]
    assert (REPO / ".venv" / "bin" / "haven").exists()  # `make install` made it (it runs the tests)
    script = ["cd " + str(REPO)]
    for k, step in enumerate(steps[1:], 1):  # make install has run: it is what runs this test
        script.append(f"{{ {step.command}\n}} > {tmp_path}/out{k} 2>&1; echo $? > {tmp_path}/rc{k}")
    script.append(f'echo "$HAVEN_DATA_DIR" > {tmp_path}/data_dir')
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    env["TMPDIR"] = "/tmp"  # mktemp -d makes /tmp/tmp.XXXXXXXXXX, as shown
    done = subprocess.run(["bash", "-c", "\n".join(script)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    data_dir = (tmp_path / "data_dir").read_text().strip()
    assert data_dir.startswith("/tmp/tmp.")
    try:
        for k, step in enumerate(steps[1:], 1):
            out = (tmp_path / f"out{k}").read_text()
            code = int((tmp_path / f"rc{k}").read_text())
            assert code == step.exit, (step.command, code, out)
            got = [mask(line, data_dir) for line in out.splitlines() if "━" not in line]
            for line in step.shown:
                assert mask(line, data_dir) in got, (step.command, line, got)
    finally:
        subprocess.run(["rm", "-rf", data_dir], check=False)
