"""Hash-list exchanges: banks kept current from NCMEC, StopNCII, ThreatExchange and shared files,
incrementally and resumably, with tombstones, provenance and feedback sent back (docs/exchanges.md).

``ExchangeStore`` configures exchanges; ``fetch`` runs one (pages applied with their checkpoint, exactly
once); ``haven.exchanges.feedback`` queues and sends bank feedback upstream; ``haven.exchanges.jobs`` puts
both on the job queue's schedule; ``haven.exchanges.mock`` serves the three APIs locally.
"""

from haven.exchanges.clients import ClientSettings, make_client
from haven.exchanges.fetch import due, fetch
from haven.exchanges.store import ExchangeStore
from haven.exchanges.types import TYPES, Exchange, FetchResult, Page, Update

__all__ = ["TYPES", "ClientSettings", "Exchange", "ExchangeStore", "FetchResult", "Page", "Update", "due",
           "fetch", "make_client"]
