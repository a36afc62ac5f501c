"""The simulated A-share market's data: what every API handler reads, for any clock time.

Construction is cheap (stock metadata and quarterly drivers only); price blocks, index series
and announcement tables are produced on first use and cached within ``cache_mb``. Two markets
built with the same arguments hold byte-for-byte the same data. The API handlers read this
class; :class:`twilight_sim.market.Market` adds the API calls on top.
"""

from __future__ import annotations

from datetime import datetime

from twilight_sim.bars import BarView
from twilight_sim.calendar import TradingCalendar, to_date
from twilight_sim.clock import SimClock, Visibility, parse_now, visibility
from twilight_sim.fundamentals import build_fundamentals
from twilight_sim.hashrng import HashRng
from twilight_sim.indices import IndexBook
from twilight_sim.notices import Notices
from twilight_sim.params import Params
from twilight_sim.periods import PeriodView
from twilight_sim.prices import PriceBook, plan_dividends
from twilight_sim.reports import Reports
from twilight_sim.statements import Statements
from twilight_sim.universe import build_universe
from twilight_sim.valuation import Valuation

DEFAULT_END = "20241231"


def _check_date(name: str, value: str) -> int:
    try:
        return int(Params({name: value}).date(name) or 0)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


class MarketData:
    def __init__(
        self,
        seed: int = 20240101,
        n_stocks: int = 200,
        start_date: str = "20220101",
        end_date: str | None = None,
        n_indices: int = 5,
        cache_mb: int = 256,
    ) -> None:
        start = _check_date("start_date", start_date)
        end = _check_date("end_date", end_date or DEFAULT_END)
        if end <= start:
            raise ValueError("end_date must be after start_date")
        self.seed, self.start, self.end = seed, start, end
        self.rng = HashRng(seed)
        self.universe = build_universe(seed, n_stocks, start, end)
        self.days = TradingCalendar(start, end)
        if self.days.n_days == 0:
            raise ValueError("the simulated range holds no trading day")
        self.calendar = TradingCalendar(start, end // 10000 * 10000 + 1231)
        last_quarter = max(
            p
            for p in (
                y * 10000 + md
                for y in (end // 10000 - 1, end // 10000)
                for md in (331, 630, 930, 1231)
            )
            if p <= end
        )
        self.fund = build_fundamentals(
            self.rng, self.universe, start // 10000 - 2, last_quarter, start
        )
        dividends = plan_dividends(self.rng, self.universe, self.days, self.fund)
        self.book = PriceBook(
            self.rng, self.universe, self.days, dividends, self.fund.trend, cache_mb << 20
        )
        self.bars = BarView(self.rng, self.universe, self.days, self.book)
        self.periods = PeriodView(self.bars)
        self.valuation = Valuation(self.bars, self.fund)
        self.indices = IndexBook(self.bars, self.valuation, n_indices)
        self.statements = Statements(self.rng, self.universe, self.fund)
        self.reports = Reports(self.universe.ts_code, self.fund, self.statements)
        self.notices = Notices(self.rng, self.universe.ts_code, self.fund, self.statements)
        end_day = to_date(end)
        self.clock = SimClock(datetime(end_day.year, end_day.month, end_day.day, 23, 59, 59))

    def visibility(self, now: str | datetime | None = None) -> Visibility:
        return visibility(self.clock.now if now is None else parse_now(now), self.days)
