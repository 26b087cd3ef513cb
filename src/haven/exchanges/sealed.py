"""Exchange credentials as sealed data known to ``haven secrets status|rotate|retire``."""

from __future__ import annotations

from haven.config import Settings
from haven.secrets import KeyRing, SealedData, register_sealed


def _with_store(settings: Settings, ring: KeyRing, work):  # type: ignore[no-untyped-def]
    from haven.banks import BankStore
    from haven.exchanges.store import ExchangeStore

    banks = BankStore(settings.resolved_database_url)
    try:
        return work(ExchangeStore(banks, ring))
    finally:
        banks.close()


register_sealed(
    SealedData(
        name="exchange-credentials",
        usage=lambda ring, settings: _with_store(settings, ring, lambda s: s.usage()),
        reseal=lambda ring, settings: _with_store(settings, ring, lambda s: s.reseal()),
    )
)
