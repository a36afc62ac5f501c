"""The quote cache and composer behind ``GET /price``.

The composer picks the source by market state: during trading a live provider first, then the
warehouse's last close marked stale; otherwise the last close, stale only if a newer session has
closed than the warehouse holds. The cache keeps an answer as long as it can still be the newest
one: a few seconds while trading, until the next session's open otherwise (lunch break included),
and never past the publication of a newer warehouse snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from twilight_resources.providers import (
    Capability,
    ProviderRegistry,
    ProviderUnavailableError,
    Quote,
)
from twilight_serve.market_state import MarketState, MarketStateResolver, until_next_open

LIVE_TTL = timedelta(seconds=5)


@dataclass(frozen=True)
class ComposedQuote:
    """A quote with the decision that produced it."""

    quote: Quote
    state: MarketState
    stale: bool
    fetched_at: datetime
    expires_at: datetime
    cached: bool = False
    note: str | None = None  # why a preferred source did not answer


class QuoteUnavailableError(RuntimeError):
    """No provider could answer."""


def cache_expiry(state: MarketState) -> datetime:
    """How long a quote taken in ``state`` may be served from the cache."""
    if state.is_trading:
        return state.at + LIVE_TTL
    return until_next_open(state)


class QuoteCache:
    """Quotes by code, each valid until its expiry and for one snapshot generation."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[ComposedQuote, int | None]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, ts_code: str, now: datetime, generation: int | None) -> ComposedQuote | None:
        with self._lock:
            entry = self._entries.get(ts_code)
            if entry is None:
                return None
            composed, stored_generation = entry
            if now >= composed.expires_at or stored_generation != generation:
                del self._entries[ts_code]
                return None
            return composed

    def put(self, composed: ComposedQuote, generation: int | None) -> None:
        with self._lock:
            self._entries[composed.quote.ts_code] = (composed, generation)
            self._entries.move_to_end(composed.quote.ts_code)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


class QuoteComposer:
    """Chooses providers by capability and market state, and caches the answer."""

    def __init__(
        self,
        registry: ProviderRegistry,
        market: MarketStateResolver,
        cache: QuoteCache,
        generation: Callable[[], int | None],
    ) -> None:
        self._registry = registry
        self._market = market
        self._cache = cache
        self._generation = generation

    def quote(self, ts_code: str, now: datetime) -> ComposedQuote:
        generation = self._generation()
        hit = self._cache.get(ts_code, now, generation)
        if hit is not None:
            return replace(hit, cached=True)
        state = self._market.state(now)
        composed = self._compose(ts_code, state)
        self._cache.put(composed, generation)
        return composed

    def _compose(self, ts_code: str, state: MarketState) -> ComposedQuote:
        failures: list[str] = []
        if state.is_trading:
            live = self._first(Capability.INTRADAY_QUOTE, ts_code, state, failures)
            if live is not None:
                return self._composed(live, state, stale=False)
            if not failures:
                failures.append("no live provider registered")
        close = self._first(Capability.LAST_CLOSE, ts_code, state, failures)
        if close is None:
            raise QuoteUnavailableError(
                f"no provider has a price for {ts_code} now"
                + (f" ({'; '.join(failures)})" if failures else "")
            )
        behind = state.last_close_date is not None and close.trade_date < state.last_close_date
        note = "; ".join(failures) or None
        return self._composed(close, state, stale=state.is_trading or behind, note=note)

    def _first(
        self, capability: Capability, ts_code: str, state: MarketState, failures: list[str]
    ) -> Quote | None:
        for provider in self._registry.select(capability, state.phase):
            try:
                return provider.quote(ts_code)
            except ProviderUnavailableError as exc:
                failures.append(f"{provider.name}: {exc}")
                continue
        return None

    @staticmethod
    def _composed(
        quote: Quote, state: MarketState, stale: bool, note: str | None = None
    ) -> ComposedQuote:
        expires = cache_expiry(state)
        if note is not None and state.is_trading:
            # A fallback while trading is retried as soon as a live answer could be cached.
            expires = min(expires, state.at + LIVE_TTL)
        return ComposedQuote(quote, state, stale, state.at, expires, note=note)
