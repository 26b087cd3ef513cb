"""Signal types and their registry. ``get_signal("pdq")`` → ``PdqSignal``.

To add a hash: write one module with a ``SignalType`` subclass (see ``base.py`` for the contract) and
register it — below for a built-in, or through the ``haven.signals`` entry-point group from any
installed package. ``tests/signals/`` runs every registered signal through the same contract battery.
"""

from __future__ import annotations

from haven.signals.base import (
    BytesHasher,
    DecodedImage,
    HashOptions,
    HexDigestSignal,
    ImageHasher,
    Input,
    LookupKind,
    SignalHash,
    SignalIndex,
    SignalType,
    Variant,
)
from haven.signals.md5 import Md5Signal
from haven.signals.pdq import PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY, PdqSignal
from haven.signals.registry import (
    ENTRY_POINT_GROUP,
    aliases,
    all_signals,
    get_signal,
    load_plugins,
    register,
    signal_names,
    signals_for,
    unregister,
)
from haven.signals.sha1 import Sha1Signal
from haven.signals.sha256 import Sha256Signal

for _signal in (PdqSignal, Md5Signal, Sha1Signal, Sha256Signal):
    register(_signal)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PDQ_MATCH_THRESHOLD",
    "PDQ_MIN_QUALITY",
    "BytesHasher",
    "DecodedImage",
    "HashOptions",
    "HexDigestSignal",
    "ImageHasher",
    "Input",
    "LookupKind",
    "Md5Signal",
    "PdqSignal",
    "Sha1Signal",
    "Sha256Signal",
    "SignalHash",
    "SignalIndex",
    "SignalType",
    "Variant",
    "aliases",
    "all_signals",
    "get_signal",
    "load_plugins",
    "register",
    "signal_names",
    "signals_for",
    "unregister",
]
