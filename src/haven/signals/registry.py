"""The signal registry: the built-in signals, then those installed packages offer through the
``haven.signals`` entry-point group (an organisation licensed for a closed hash plugs it in without
forking Haven). A duplicate or malformed signal fails loudly: a bank whose entries' signal silently
went missing would never match again.
"""

from __future__ import annotations

import functools
import threading
from importlib.metadata import entry_points

from haven.errors import UsageError
from haven.signals.base import NAME, BytesHasher, ImageHasher, Input, LookupKind, SignalType

ENTRY_POINT_GROUP = "haven.signals"

#: Names a signal cannot take: they are fields of the objects signal values sit in (API bodies, JSON lines).
RESERVED = frozenset({"path", "matches", "matched", "threshold", "content_id", "url", "upscaled", "limit",
                      "quality", "width", "height", "size", "error", "low_quality", "final_url", "variant",
                      "kind", "source", "depth", "mime", "exif", "variants", "status"})

_REGISTRY: dict[str, type[SignalType]] = {}
_plugins_loaded = False
_lock = threading.Lock()


def register(signal: type[SignalType]) -> type[SignalType]:
    """Add a signal type; refuses a taken or malformed name and a signal missing part of the contract."""
    name = getattr(signal, "name", None)
    if not isinstance(name, str) or not NAME.match(name):
        raise UsageError(f"signal {signal!r}: name {name!r} must match {NAME.pattern}")
    if name in RESERVED:
        raise UsageError(f"signal {signal!r}: {name!r} is a reserved field name")
    if name in _REGISTRY:
        raise UsageError(f"signal type {name!r} registered twice ({_REGISTRY[name]!r} and {signal!r})")
    if not isinstance(getattr(signal, "lookup", None), LookupKind):
        raise UsageError(f"signal {name!r}: lookup must be a LookupKind")
    wants = {Input.BYTES: BytesHasher, Input.IMAGE: ImageHasher}.get(getattr(signal, "input", None))  # type: ignore[arg-type]
    if wants is not None and not issubclass(signal, wants):
        raise UsageError(f"signal {name!r}: input {signal.input} needs the {wants.__name__} capability")
    if signal.lookup is LookupKind.DISTANCE and signal.make_index is SignalType.make_index:
        raise UsageError(f"signal {name!r}: a distance signal must provide make_index()")
    _REGISTRY[name] = signal
    return signal


def unregister(name: str) -> None:
    """Remove a signal (tests that register a throw-away signal clean up with this)."""
    _REGISTRY.pop(name, None)


def load_plugins() -> None:
    """Register the signals of installed packages (entry-point group ``haven.signals``), once."""
    global _plugins_loaded
    if _plugins_loaded:  # the common case, without the lock: this runs once per bank entry in imports
        return
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                signal = ep.load()
            except Exception as exc:
                raise UsageError(f"signal plugin {ep.name!r} ({ep.value}) failed to load: "
                                 f"{type(exc).__name__}: {exc}") from exc
            if not (isinstance(signal, type) and issubclass(signal, SignalType)):
                raise UsageError(f"signal plugin {ep.name!r} ({ep.value}) is not a SignalType subclass")
            register(signal)


def get_signal(name: str) -> type[SignalType]:
    """The signal type called ``name`` (case-insensitive); ``UsageError`` listing the known ones."""
    load_plugins()
    try:
        return _REGISTRY[name.lower()]
    except (KeyError, AttributeError):
        raise UsageError(f"unknown signal type {name!r}; known: {', '.join(_REGISTRY)}") from None


def all_signals() -> list[type[SignalType]]:
    """Every registered signal, built-ins first, in registration order."""
    load_plugins()
    return list(_REGISTRY.values())


def signal_names() -> list[str]:
    return [s.name for s in all_signals()]


def aliases(system: str) -> dict[str, str]:
    """``{name in system: Haven signal name}`` for a system's files or API (``"pytx"``, ``"hma"``)."""
    load_plugins()
    return dict(_aliases(system, len(_REGISTRY)))


@functools.lru_cache(maxsize=64)
def _aliases(system: str, _registered: int) -> tuple[tuple[str, str], ...]:
    # Cached per registry size: importers ask once per row.
    return tuple((s.aliases[system], s.name) for s in _REGISTRY.values() if system in s.aliases)


def signals_for(input: Input) -> list[type[SignalType]]:
    """The registered signals computed from ``input``."""
    return [s for s in all_signals() if s.input is input]
