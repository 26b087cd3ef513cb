"""Signal types and their registry. ``get_signal("pdq")`` → ``PdqSignal``.

To add a hash: write ``signals/<name>.py`` with a ``SignalType`` subclass and register it below.
A duplicate name fails loudly at import.
"""

from __future__ import annotations

from haven.errors import UsageError
from haven.signals.base import ExactIndex, HexDigestSignal, SignalIndex, SignalType
from haven.signals.md5 import Md5Signal
from haven.signals.pdq import PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY, PdqSignal
from haven.signals.sha1 import Sha1Signal
from haven.signals.sha256 import Sha256Signal

_REGISTRY: dict[str, type[SignalType]] = {}


def register(signal: type[SignalType]) -> type[SignalType]:
    if signal.name in _REGISTRY:
        raise RuntimeError(f"signal type {signal.name!r} registered twice")
    _REGISTRY[signal.name] = signal
    return signal


def get_signal(name: str) -> type[SignalType]:
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise UsageError(f"unknown signal type {name!r}; known: {', '.join(_REGISTRY)}") from None


def all_signals() -> list[type[SignalType]]:
    return list(_REGISTRY.values())


for _signal in (PdqSignal, Md5Signal, Sha1Signal, Sha256Signal):
    register(_signal)

__all__ = [
    "PDQ_MATCH_THRESHOLD",
    "PDQ_MIN_QUALITY",
    "ExactIndex",
    "HexDigestSignal",
    "Md5Signal",
    "PdqSignal",
    "Sha1Signal",
    "Sha256Signal",
    "SignalIndex",
    "SignalType",
    "all_signals",
    "get_signal",
    "register",
]
