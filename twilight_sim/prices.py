"""Close prices for the whole market, generated day by day in blocks, cached within a budget.

Only the path-dependent part of a bar lives here: the close and the (ex-rights) previous close,
as integer cents in ``(days, stocks)`` blocks. Rounding to the tick, price limits, suspensions
and ex-dividend days make the close path sequential in time, so blocks are produced in order
once (keeping a tiny checkpoint per block) and later regenerated on demand from the nearest
checkpoint when the LRU cache has dropped them. Everything else in a bar is derived from these
two numbers plus hashed noise (see :mod:`twilight_sim.bars`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray as Array

from twilight_sim.calendar import TradingCalendar, is_open, to_int
from twilight_sim.fundamentals import Fundamentals, Trend, year_fraction
from twilight_sim.hashrng import HashRng
from twilight_sim.universe import Universe, limit_pct

BLOCK_DAYS = 32  # small blocks: a cache miss regenerates little (~20 ms at 5,000 stocks)
SUSPEND_P = 0.0015  # daily chance a trading stock starts a suspension
MARKET_VOL = 0.011
REVERSION = 0.004  # pull of the log price back towards its trend (see fundamentals.Trend)
MAX_CASH = 0.15  # a dividend never takes more than this share of the price


@dataclass
class Block:
    close: Array[np.int32]  # carried close in cents while listed (also when suspended), else 0
    pre: Array[np.int32]  # ex-rights previous close in cents on days with a bar, else 0

    @property
    def nbytes(self) -> int:
        return self.close.nbytes + self.pre.nbytes


@dataclass
class _State:
    close: Array[np.int64]
    susp_left: Array[np.int64]


@dataclass
class DividendPlan:
    """Ex-dividend days by (stock, year of the range), and what was paid once generated."""

    years: Array[np.int64]
    ex_day: Array[np.int64]  # trading-day index, -1 when no dividend that year
    planned: Array[np.float64]  # cents per share declared out of the previous year's profit
    cash: Array[np.int64]  # cents per share actually paid, filled during generation
    step: Array[np.float64]  # adj_factor multiplier on the ex-day, 1.0 until paid


def plan_dividends(
    rng: HashRng, universe: Universe, days: TradingCalendar, fund: Fundamentals
) -> DividendPlan:
    """Cash dividends between late May and July, out of the previous year's reported profit
    (``fund.payout``), so dividend yields agree with the statements and P/E."""
    first, last = int(days.trade_dates[0]) // 10000, int(days.trade_dates[-1]) // 10000
    years = np.arange(first, last + 1)
    n = universe.size
    ex_day = np.full((n, years.size), -1, dtype=np.int64)
    planned = np.stack([fund.dividend_per_share(int(y) - 1) * 100 for y in years], axis=1)
    idx = np.arange(n)
    for k, year in enumerate(years):
        u = rng.uniform("exday", idx, year)
        for i in np.flatnonzero(planned[:, k] >= 1):  # below a fen per share: nothing paid
            target = date(int(year), 5, 20) + timedelta(days=int(u[i] * 60))
            while not is_open(target):
                target += timedelta(days=1)
            ex_day[i, k] = days.day_index(to_int(target))
    return DividendPlan(
        years, ex_day, planned, np.zeros_like(ex_day), np.ones(ex_day.shape, dtype=np.float64)
    )


class PriceBook:
    """Lazily generated ``(day, stock)`` close/pre-close blocks with a byte-bounded LRU cache."""

    def __init__(
        self,
        rng: HashRng,
        universe: Universe,
        days: TradingCalendar,
        dividends: DividendPlan,
        trend: Trend,
        cache_bytes: int = 256 << 20,
    ) -> None:
        self.rng, self.u, self.days, self.div, self.trend = rng, universe, days, dividends, trend
        self.n_days = days.n_days
        self.n_blocks = (self.n_days + BLOCK_DAYS - 1) // BLOCK_DAYS
        dates = days.trade_dates
        listed_before = universe.list_date < dates[0]
        self.list_idx = np.where(listed_before, -1, np.searchsorted(dates, universe.list_date))
        self.exit_idx = np.where(
            universe.exit_date > 0, np.searchsorted(dates, universe.exit_date), self.n_days
        )
        start_close = np.where(listed_before & (self.exit_idx > 0), universe.init_price, 0)
        self._states: dict[int, _State] = {
            0: _State(start_close.astype(np.int64), np.zeros(universe.size, dtype=np.int64))
        }
        self._cache: OrderedDict[int, Block] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._lock = threading.RLock()
        self._year_of_day = np.searchsorted(dividends.years, dates // 10000)
        self._year_frac = year_fraction(dates)

    def block(self, b: int) -> Block:
        with self._lock:
            hit = self._cache.get(b)
            if hit is not None:
                self._cache.move_to_end(b)
                return hit
            start = max(k for k in self._states if k <= b)
            for k in range(start, b + 1):
                blk = self._generate(k)
                self._remember(k, blk)
            return blk

    def _remember(self, b: int, blk: Block) -> None:
        self._cache[b] = blk
        self._cache.move_to_end(b)
        used = sum(x.nbytes for x in self._cache.values())
        while used > self._cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            used -= old.nbytes

    def window(self, t0: int, t1: int, stocks: Array[np.int64] | slice = slice(None)) -> Block:
        """close/pre for days [t0, t1) and the given stock columns."""
        parts = []
        for b in range(t0 // BLOCK_DAYS, (max(t1, t0 + 1) - 1) // BLOCK_DAYS + 1):
            blk = self.block(b)
            lo = max(t0 - b * BLOCK_DAYS, 0)
            hi = min(t1 - b * BLOCK_DAYS, blk.close.shape[0])
            parts.append(Block(blk.close[lo:hi][:, stocks], blk.pre[lo:hi][:, stocks]))
        if len(parts) == 1:
            return parts[0]
        return Block(
            np.concatenate([p.close for p in parts]), np.concatenate([p.pre for p in parts])
        )

    def ensure(self, t: int) -> None:
        """Generate through day ``t`` at least once so dividend records up to it are final."""
        if t >= 0:
            self.block(min(t, self.n_days - 1) // BLOCK_DAYS)

    def _generate(self, b: int) -> Block:
        u, rng, div = self.u, self.rng, self.div
        state = self._states[b]
        t0, t1 = b * BLOCK_DAYS, min((b + 1) * BLOCK_DAYS, self.n_days)
        n = u.size
        t_idx = np.arange(t0, t1)
        stock = np.arange(n)
        z = rng.normal("ret", t_idx[:, None], stock[None, :])
        mkt = MARKET_VOL * rng.normal("mkt", t_idx) + 0.0002
        u_susp = rng.uniform("susp", t_idx[:, None], stock[None, :])
        susp_len = 1 + np.minimum(
            np.floor(-np.log1p(-rng.uniform("susplen", t_idx[:, None], stock[None, :])) * 5), 59
        )
        close = state.close.copy()
        susp_left = state.susp_left.copy()
        out_close = np.zeros((t1 - t0, n), dtype=np.int32)
        out_pre = np.zeros((t1 - t0, n), dtype=np.int32)
        anchor = np.log(u.init_price.astype(np.float64))
        for row, t in enumerate(t_idx):
            trade_date = int(self.days.trade_dates[t])
            lim = limit_pct(u, trade_date)
            listed = (self.list_idx <= t) & (t < self.exit_idx)
            ipo = self.list_idx == t
            year = self._year_of_day[t]
            ex = (div.ex_day[:, year] == t) & (close > 0)
            if ex.any():
                paid = np.maximum(
                    np.floor(np.minimum(div.planned[ex, year], close[ex] * MAX_CASH)), 1
                ).astype(np.int64)
                div.cash[ex, year] = paid
                div.step[ex, year] = close[ex] / (close[ex] - paid)
                close[ex] -= paid
            starts = listed & ~ipo & (susp_left == 0) & (u_susp[row] < SUSPEND_P)
            susp_left = np.where(starts, susp_len[row], susp_left)
            suspended = listed & (susp_left > 0)
            susp_left = np.where(suspended, susp_left - 1, susp_left)
            trading = listed & ~suspended
            pre = np.where(ipo, u.init_price, close)
            safe = np.maximum(pre, 1)
            target = anchor + self.trend.at(self._year_frac[t])
            ret = u.beta * mkt[row] + u.sigma * z[row] - REVERSION * (np.log(safe) - target)
            up = (safe * (100 + lim) + 50) // 100
            down = np.maximum((safe * (100 - lim) + 50) // 100, 1)
            new = np.clip(np.round(safe * np.exp(ret)).astype(np.int64), down, up)
            close = np.where(trading, new, np.where(listed, close, 0))
            out_close[row] = close
            out_pre[row] = np.where(trading, pre, 0)
        if b + 1 < self.n_blocks and b + 1 not in self._states:
            self._states[b + 1] = _State(close, susp_left)
        return Block(out_close, out_pre)
