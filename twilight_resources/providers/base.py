"""What a quote provider is, and the registry the quote composer chooses from.

Providers declare what they can answer (capabilities) and in which market phases they are
worth asking; the composer asks the registry instead of naming sources, so a live intraday
provider (AKShare) plugs in by registering, with no change to the composer. Bar providers
(:class:`BarProvider`) answer daily bars for the fallback and the cross-source check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

import pandas as pd

from twilight_resources.sessions import Phase


class Capability(StrEnum):
    INTRADAY_QUOTE = "intraday_quote"  # a price during trading hours
    LAST_CLOSE = "last_close"  # the close of the newest finished session
    DAILY_BARS = "daily_bars"  # unadjusted daily bars in Tushare's names and units
    DAILY_BARS_QFQ = "daily_bars_qfq"  # forward-adjusted daily bars
    DAILY_BARS_HFQ = "daily_bars_hfq"  # backward-adjusted daily bars


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


class BarProvider(Protocol):
    name: str
    capabilities: frozenset[Capability]
    phases: frozenset[Phase]

    def daily(self, ts_code: str, start: date, end: date, adjust: str = "") -> pd.DataFrame:
        """Tushare ``daily`` rows (names and units) of one stock, newest first."""
        ...


class ProviderRegistry:
    """Providers in registration order (earlier = preferred)."""

    def __init__(self, providers: Iterable[QuoteProvider] = ()) -> None:
        self._providers: list[QuoteProvider | BarProvider] = []
        for provider in providers:
            self.register(provider)

    def register(self, provider: QuoteProvider | BarProvider) -> None:
        if any(p.name == provider.name for p in self._providers):
            raise ValueError(f"a provider named {provider.name!r} is already registered")
        self._providers.append(provider)

    def select(self, capability: Capability, phase: Phase) -> list[QuoteProvider]:
        """Providers that can answer ``capability`` in ``phase``, preferred first."""
        return [
            p  # type: ignore[misc]
            for p in self._providers
            if capability in p.capabilities and phase in p.phases
        ]

    def first(self, capability: Capability) -> QuoteProvider | BarProvider:
        """The preferred provider of ``capability`` in any phase (bars are not time-bound)."""
        for provider in self._providers:
            if capability in provider.capabilities:
                return provider
        raise ProviderUnavailableError(f"no provider registered for {capability.value}")

    def names(self) -> list[str]:
        return [p.name for p in self._providers]

    def clear(self) -> None:
        self._providers.clear()
