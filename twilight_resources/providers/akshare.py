"""AKShare providers: a live per-stock quote while trading, and daily bars (raw, qfq, hfq).

The quote provider asks one stock (today's bar so far from ``stock_zh_a_hist``: one request,
and it names its session) rather than the market-wide spot list, which pages 100 rows per
request with a 0.5-1.5 s pause between pages (about a minute for the whole market): ``/price``
must never wait on that. After a failure the provider rests for ``cooldown`` seconds, so a down
source costs one timeout, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import pandas as pd

from twilight_resources.akshare.client import (
    AkshareClient,
    AkshareNoDataError,
    AkshareUnavailableError,
)
from twilight_resources.providers.base import Capability, Quote
from twilight_resources.sessions import Phase

log = logging.getLogger(__name__)

TRADING = frozenset({Phase.MORNING, Phase.AFTERNOON})
COOLDOWN_S = 30.0


class AkshareSpotProvider:
    """The price now of one stock from Eastmoney through ``akshare``; only while trading."""

    name = "akshare"
    capabilities = frozenset({Capability.INTRADAY_QUOTE})
    phases = TRADING

    def __init__(
        self,
        client: AkshareClient,
        clock: Callable[[], datetime],
        cooldown: float = COOLDOWN_S,
    ) -> None:
        self._client = client
        self._clock = clock
        self._cooldown = cooldown
        self._down_until = 0.0
        self._reason = ""
        self._lock = threading.Lock()

    def quote(self, ts_code: str) -> Quote:
        if time.monotonic() < self._down_until:
            raise AkshareUnavailableError(f"akshare resting after a failure: {self._reason}")
        now = self._clock()
        try:
            bar = self._client.today(ts_code, now.date())
        except AkshareNoDataError:
            raise  # the source works; it has nothing for this stock today (e.g. suspended)
        except AkshareUnavailableError as exc:
            with self._lock:
                self._down_until = time.monotonic() + self._cooldown
                self._reason = str(exc)
            raise
        return Quote(ts_code, float(bar["close"]), now.date(), now, self.name)


class AkshareDailyProvider:
    """Daily bars of one stock from ``stock_zh_a_hist``, in Tushare's names and units."""

    name = "akshare_daily"
    capabilities = frozenset(
        {Capability.DAILY_BARS, Capability.DAILY_BARS_QFQ, Capability.DAILY_BARS_HFQ}
    )
    phases = frozenset(Phase)

    def __init__(self, client: AkshareClient) -> None:
        self._client = client

    def daily(self, ts_code: str, start: date, end: date, adjust: str = "") -> pd.DataFrame:
        return self._client.daily(ts_code, start, end, adjust)

    def daily_many(
        self, codes: Sequence[str], start: date, end: date, threads: int
    ) -> tuple[list[pd.DataFrame], list[str]]:
        """Bars of each of ``codes`` over [start, end], one call per stock, ``threads`` at once;
        and the codes whose call failed (logged, not raised: the caller decides what is enough).
        """

        def one(code: str) -> pd.DataFrame | None:
            try:
                return self.daily(code, start, end)
            except AkshareUnavailableError as exc:
                log.warning("akshare daily bars: %s", exc)
                return None

        with ThreadPoolExecutor(max(1, threads), thread_name_prefix="akshare") as pool:
            answers = list(pool.map(one, codes))
        frames = [f for f in answers if f is not None]
        failed = [code for code, f in zip(codes, answers, strict=True) if f is None]
        return frames, failed
