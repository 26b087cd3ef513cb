"""Test-only fault injection: kill the process at a named point, to prove that work resumes exactly once.

Shipped code marks its crash-sensitive points with ``FAULTS.reach("after_upload")``; nothing happens
unless a test has armed the point (``FAULTS.arm("after_upload:2")`` dies the 2nd time it is reached).
Tests arm it in the process they crash — a forked child, or a subprocess started through
``python -m haven.faults SPEC -- haven ARGS…`` — never through the environment of shipped modules.
"""

from __future__ import annotations

import os
import sys

CRASH_EXIT = 70


class FaultPoints:
    """Named crash points; disarmed by default."""

    def __init__(self) -> None:
        self._armed: dict[str, int] = {}
        self._seen: dict[str, int] = {}

    def arm(self, spec: str) -> None:
        """``"point:n,other"``: die (exit 70) the n-th time ``point`` is reached (n defaults to 1)."""
        self._armed.clear()
        self._seen.clear()
        for item in spec.split(","):
            point, _, nth = item.strip().partition(":")
            if point:
                self._armed[point] = int(nth or 1)

    def disarm(self) -> None:
        self._armed.clear()
        self._seen.clear()

    def reach(self, name: str) -> None:
        if not self._armed:
            return
        self._seen[name] = self._seen.get(name, 0) + 1
        if self._armed.get(name) == self._seen[name]:
            os._exit(CRASH_EXIT)


FAULTS = FaultPoints()


def main(argv: list[str]) -> None:
    """``python -m haven.faults SPEC -- haven ARGS…``: run the CLI with ``SPEC`` armed (tests only)."""
    spec, sep, *rest = argv
    if sep != "--" or not rest or rest[0] != "haven":
        raise SystemExit("usage: python -m haven.faults SPEC -- haven ARGS...")
    # Run as ``-m``, this file is ``__main__``: arm the instance shipped modules import.
    from haven.cli.main import main as haven_main
    from haven.faults import FAULTS as shared

    shared.arm(spec)
    sys.argv = rest
    haven_main()


if __name__ == "__main__":
    main(sys.argv[1:])
