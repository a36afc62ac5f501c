"""Daily bars and adjustment factors derived from the close path, plus paging selections.

Every value is a pure function of (stock, trading day): asking for one day across the market
or for one stock across ten years gives identical numbers, as a warehouse built either way must.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.typing import NDArray as Array

from twilight_sim.calendar import TradingCalendar
from twilight_sim.hashrng import HashRng
from twilight_sim.prices import BLOCK_DAYS, PriceBook
from twilight_sim.universe import BOARDS, CHINEXT_REFORM, Universe

IntArray = npt.NDArray[np.int64]


def gather(book: PriceBook, t: IntArray, s: IntArray, which: str) -> IntArray:
    """``pre`` or ``close`` cents for arbitrary (day, stock) pairs."""
    out = np.zeros(t.size, dtype=np.int64)
    blocks = t // BLOCK_DAYS
    for b in np.unique(blocks):
        hit = blocks == b
        arr = getattr(book.block(int(b)), which)
        out[hit] = arr[t[hit] - b * BLOCK_DAYS, s[hit]]
    return out


def limits(u: Universe, days: TradingCalendar, t: IntArray, s: IntArray) -> IntArray:
    base = np.array([b.limit_pct for b in BOARDS], dtype=np.int64)[u.board[s]]
    old_chinext = (u.board[s] == 2) & (days.trade_dates[t] < CHINEXT_REFORM)
    return np.where(u.is_st[s], 5, np.where(old_chinext, 10, base))


class BarView:
    """Derives OHLCV, adj_factor and selections from a :class:`PriceBook`."""

    def __init__(
        self, rng: HashRng, universe: Universe, days: TradingCalendar, book: PriceBook
    ) -> None:
        self.rng, self.u, self.days, self.book = rng, universe, days, book
        self._codes = np.asarray(universe.ts_code, dtype=object)
        self._dates = days.trade_dates.astype(str).astype(object)

    def ohlcv(
        self, t: IntArray, s: IntArray, pre: IntArray, close: IntArray
    ) -> dict[str, Array[np.float64]]:
        """Bars for pairs that trade (pre > 0); prices in yuan, vol in lots, amount in 1000 yuan."""
        u, rng = self.u, self.rng
        lim = limits(u, self.days, t, s)
        up = (pre * (100 + lim) + 50) // 100
        down = np.maximum((pre * (100 - lim) + 50) // 100, 1)
        sig = u.sigma[s]
        drift = np.log(close / pre)
        gap = np.exp(0.5 * sig * rng.normal("open", t, s) + 0.3 * drift)
        open_ = np.clip(np.round(pre * gap).astype(np.int64), down, up)
        top = np.maximum(open_, close)
        high = np.minimum(
            top + np.round(top * np.abs(rng.normal("high", t, s)) * 0.5 * sig).astype(np.int64), up
        )
        bottom = np.minimum(open_, close)
        low = np.maximum(
            bottom
            - np.round(bottom * np.abs(rng.normal("low", t, s)) * 0.5 * sig).astype(np.int64),
            down,
        )
        vol = self.volume(t, s, pre, close)
        vwap = low + (high - low) * (0.25 + 0.5 * rng.uniform("vwap", t, s))
        amount = np.round(vol * vwap / 1000, 3)  # lots*100 shares * cents/100 / 1000
        return {
            "open": open_ / 100,
            "high": high / 100,
            "low": low / 100,
            "close": close / 100,
            "pre_close": pre / 100,
            "change": np.round((close - pre) / 100, 2),
            "pct_chg": np.round((close - pre) / pre * 100, 4),
            "vol": vol,
            "amount": amount,
        }

    def volume(
        self, t: IntArray, s: IntArray, pre: Array[np.integer], close: Array[np.integer]
    ) -> Array[np.float64]:
        """Volume in lots: a turnover draw that rises with the size of the move."""
        u = self.u
        first_day = self.book.list_idx[s] == t
        turnover = (
            u.turnover[s]
            * np.exp(0.4 * self.rng.normal("vol", t, s))
            * (1 + 10 * np.abs(close / pre - 1))
            * np.where(first_day, 20.0, 1.0)
        )
        turnover = np.minimum(turnover, 60.0)
        lots: Array[np.float64] = np.round(turnover / 100 * u.float_share[s] * 100, 2)
        return lots  # 10k shares -> lots

    def daily(self, t: IntArray, s: IntArray) -> pd.DataFrame:
        pre, close = gather(self.book, t, s, "pre"), gather(self.book, t, s, "close")
        cols = self.ohlcv(t, s, pre, close)
        return self.frame(t, s, cols)

    def frame(self, t: IntArray, s: IntArray, cols: dict[str, Array[np.float64]]) -> pd.DataFrame:
        return pd.DataFrame({"ts_code": self._codes[s], "trade_date": self._dates[t], **cols})

    def adj_factor(self, t: IntArray, s: IntArray) -> Array[np.float64]:
        if t.size == 0:
            return np.zeros(0)
        self.book.ensure(int(t.max()))
        div = self.book.div
        ex = div.ex_day[s]
        applied = (ex >= 0) & (ex <= t[:, None])
        steps: Array[np.float64] = np.where(applied, div.step[s], 1.0).prod(axis=1)
        return np.round(self.u.adj0[s] * steps, 3)

    def day_counts(self, t0: int, t1: int, stocks: IntArray | None, listed: bool) -> IntArray:
        """Rows per trading day in [t0, t1) for the stocks (bars, or listed days if ``listed``)."""
        which = "close" if listed else "pre"
        counts = np.zeros(max(t1 - t0, 0), dtype=np.int64)
        for b in range(t0 // BLOCK_DAYS, (t1 - 1) // BLOCK_DAYS + 1 if t1 > t0 else 0):
            arr = getattr(self.book.block(b), which)
            lo, hi = max(t0, b * BLOCK_DAYS), min(t1, (b + 1) * BLOCK_DAYS)
            rows = arr[lo - b * BLOCK_DAYS : hi - b * BLOCK_DAYS]
            part = rows if stocks is None else rows[:, stocks]
            counts[lo - t0 : hi - t0] = (part > 0).sum(axis=1)
        return counts

    def select(
        self,
        t0: int,
        t1: int,
        stocks: IntArray | None,
        offset: int,
        limit: int,
        listed: bool = False,
    ) -> tuple[IntArray, IntArray, int]:
        """One page of (day, stock) pairs, newest day first then by code; plus the total."""
        counts = self.day_counts(t0, t1, stocks, listed)[::-1]
        cum = np.cumsum(counts)
        total = int(cum[-1]) if cum.size else 0
        if offset >= total or limit <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), total
        j0 = int(np.searchsorted(cum, offset, "right"))
        j1 = int(np.searchsorted(cum, min(offset + limit, total), "left"))
        day_hi, day_lo = t1 - 1 - j0, t1 - 1 - j1
        cols = np.arange(self.u.size) if stocks is None else stocks
        win = self.book.window(day_lo, day_hi + 1, cols)
        mask = (win.close if listed else win.pre)[::-1] > 0
        rows, idx = np.nonzero(mask)
        skip = offset - (int(cum[j0 - 1]) if j0 > 0 else 0)
        take = slice(skip, skip + min(limit, total - offset))
        return (day_hi - rows)[take].astype(np.int64), cols[idx][take].astype(np.int64), total
