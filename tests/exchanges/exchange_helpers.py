"""Shared by the exchange tests: a fake clock both the mock and the client read (a change is served by the
next fetch without waiting for the next second), a store on a migrated database, the bank as a set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from haven.banks import BankStore
from haven.exchanges import ExchangeStore
from haven.exchanges.clients import ClientSettings
from haven.exchanges.clients.ncmec import NcmecHashClient
from haven.exchanges.clients.stopncii import StopNciiClient
from haven.exchanges.clients.threatexchange import ThreatExchangeClient
from haven.exchanges.mock import MockExchange
from haven.secrets import KeyRing, encode_key, new_key

MASTER_KEY = encode_key(new_key())
# Fast retries for tests: the policy is the same, only the pauses are short.
FAST = ClientSettings(timeout=0.5, retries=3, backoff=0.01, max_backoff=0.02)


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 10.0) -> None:
        self.now += seconds


@dataclass
class Setup:
    banks: BankStore
    xs: ExchangeStore
    mock: MockExchange
    clock: Clock
    name: str
    bank: str
    clients: list[Any] = field(default_factory=list)

    def client(self, cs: ClientSettings = FAST) -> Any:
        ex = self.xs.get(self.name)
        creds = self.xs.credentials(self.name)
        c: Any
        if ex.type == "ncmec":
            c = NcmecHashClient(ex.options, creds, cs, clock=self.clock)
        elif ex.type == "threatexchange":
            c = ThreatExchangeClient(ex.options, creds, cs, clock=self.clock)
        else:
            c = StopNciiClient(ex.options, creds, cs)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.mock.stop()
        self.banks.close()

    def bank_set(self) -> set[tuple[str, str]]:
        return {(e.signal, e.value) for e in self.banks.iter_entries(self.bank)}

    def bank_count(self) -> int:
        return sum(v["total"] for v in self.banks.bank_stats(self.bank)["entries"].values())


def ring() -> KeyRing:
    from haven.config import Settings

    return KeyRing.load(Settings(master_key=MASTER_KEY))


def make_setup(url: str, kind: str, *, count: int = 230, page_size: int = 40, name: str = "ex") -> Setup:
    clock = Clock()
    mock = MockExchange(kind, count=count, page_size=page_size, clock=clock).start()
    banks = BankStore(url)
    xs = ExchangeStore(banks, ring())
    options: dict[str, Any] = {"url": mock.url}
    if kind == "ncmec":
        options["lag"] = 0  # NCMEC pages are the server's size; the others ask for theirs
    else:
        options["page_size"] = page_size
    if kind == "threatexchange":
        options["privacy_group"] = "1"
    xs.add(name, kind, f"{name}-bank", options=options, credentials=mock.credentials)
    return Setup(banks, xs, mock, clock, name, f"{name}-bank")
