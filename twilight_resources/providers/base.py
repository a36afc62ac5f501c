"""What a quote provider is, and the registry the quote composer chooses from.

Providers declare what they can answer (capabilities) and in which market phases they are
worth asking; the composer asks the registry instead of naming sources, so a live intraday
provider (AKShare, a later issue) plugs in by registering, with no change to the composer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from twilight_resources.market_state import Phase


class Capability(StrEnum):
    INTRADAY_QUOTE = "intraday_quote"  # a price during trading hours
    LAST_CLOSE = "last_close"  # the close of the newest finished session


class ProviderUnavailableError(RuntimeError):
    """The provider cannot answer now (no data, upstream down); the composer tries the next."""


class UnknownSecurityError(LookupError):
    """No such security; no other provider will know it either."""

    def __init__(self, ts_code: str) -> None:
        super().__init__(f"unknown security {ts_code}")
        self.ts_code = ts_code


@dataclass(frozen=True)
class Quote:
    """One price and where it came from."""

    ts_code: str
    price: float
    trade_date: date  # the session the price belongs to
    as_of: datetime  # when the price was the market's price
    source: str


class QuoteProvider(Protocol):
    name: str
    capabilities: frozenset[Capability]
    phases: frozenset[Phase]  # market phases in which asking this provider makes sense

    def quote(self, ts_code: str) -> Quote: ...


class ProviderRegistry:
    """Providers in registration order (earlier = preferred)."""

    def __init__(self, providers: Iterable[QuoteProvider] = ()) -> None:
        self._providers: list[QuoteProvider] = []
        for provider in providers:
            self.register(provider)

    def register(self, provider: QuoteProvider) -> None:
        if any(p.name == provider.name for p in self._providers):
            raise ValueError(f"a provider named {provider.name!r} is already registered")
        self._providers.append(provider)

    def select(self, capability: Capability, phase: Phase) -> list[QuoteProvider]:
        """Providers that can answer ``capability`` in ``phase``, preferred first."""
        return [p for p in self._providers if capability in p.capabilities and phase in p.phases]

    def names(self) -> list[str]:
        return [p.name for p in self._providers]

    def clear(self) -> None:
        self._providers.clear()
