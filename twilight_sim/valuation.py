"""``daily_basic``: turnover, volume ratio and valuation multiples from price x shares.

Multiples use the latest report announced on or before the trading day (the original version,
as a restatement only arrives later), exactly what a point-in-time warehouse would see.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.typing import NDArray as Array

from twilight_sim.bars import BarView, gather
from twilight_sim.fundamentals import Fundamentals

IntArray = npt.NDArray[np.int64]
RATIO_DAYS = 5  # volume_ratio compares with the average of the previous five trading days
YEAR_DAYS = 244
KEY = 100_000_000  # above any YYYYMMDD: stock * KEY + date orders by stock, then date


def _positive_ratio(num: Array[np.float64], den: Array[np.float64]) -> Array[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, np.round(num / den, 4), np.nan)


class _ReportIndex:
    """Which report is the newest one announced by a date, for any (stock, date) pairs.

    Reports sorted by (stock, announcement day) with the newest column seen so far: one binary
    search per pair, so a query's memory grows with its pairs, not pairs x quarters.
    """

    def __init__(self, ann: IntArray) -> None:
        s, col = np.nonzero(ann > 0)
        key = s * KEY + ann[s, col]
        order = np.lexsort((col, key))
        self.key, self.stock = key[order], s[order]
        width = ann.shape[1]
        self.newest = np.maximum.accumulate(self.stock * width + col[order]) - self.stock * width

    def latest(self, s: IntArray, dates: IntArray) -> IntArray:
        if self.key.size == 0:
            return np.full(s.size, -1, dtype=np.int64)
        pos = np.searchsorted(self.key, s * KEY + dates, "right") - 1
        hit = pos >= 0
        hit[hit] = self.stock[pos[hit]] == s[hit]
        return np.where(hit, self.newest[np.maximum(pos, 0)], -1)


class Valuation:
    def __init__(self, bars: BarView, fund: Fundamentals) -> None:
        self.bars, self.f = bars, fund
        self.np_ytd = fund.ytd(fund.np_attr)
        self.rev_ytd = fund.ytd(fund.revenue)
        self.np_ttm = fund.ttm(fund.np_attr)
        self.rev_ttm = fund.ttm(fund.revenue)
        self._any = _ReportIndex(fund.ann_date)
        self._annual = _ReportIndex(np.where(fund.quarters[None, :] == 4, fund.ann_date, 0))

    def latest_report(self, s: IntArray, dates: IntArray, annual: bool = False) -> IntArray:
        """Column of the newest report visible on each date (-1 if none)."""
        return (self._annual if annual else self._any).latest(s, dates)

    def _pick(self, matrix: Array[np.float64], s: IntArray, col: IntArray) -> Array[np.float64]:
        return np.where(col >= 0, matrix[s, np.maximum(col, 0)], np.nan)

    def volume_ratio(self, t: IntArray, s: IntArray, vol: Array[np.float64]) -> Array[np.float64]:
        if t.size == 0:
            return np.zeros(0)
        stocks, col = np.unique(s, return_inverse=True)
        t0 = max(int(t.min()) - RATIO_DAYS, 0)
        win = self.bars.book.window(t0, int(t.max()), stocks)
        hist = np.full(win.pre.shape, np.nan)
        rows, cols = np.nonzero(win.pre > 0)
        hist[rows, cols] = self.bars.volume(
            rows + t0, stocks[cols], win.pre[rows, cols], win.close[rows, cols]
        )
        lag_rows = (t - t0)[:, None] - np.arange(1, RATIO_DAYS + 1)[None, :]
        ok = lag_rows >= 0
        prev = np.full(lag_rows.shape, np.nan)
        prev[ok] = hist[lag_rows[ok], np.broadcast_to(col[:, None], lag_rows.shape)[ok]]
        n_obs = (~np.isnan(prev)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.nansum(prev, axis=1) / n_obs
            return np.where(n_obs > 0, np.round(vol / mean, 2), np.nan)

    def paid_last_year(self, t: IntArray, s: IntArray) -> Array[np.float64]:
        """Dividends that went ex over the past year, cents per share (dv_ttm's numerator)."""
        div = self.bars.book.div
        if t.size:
            self.bars.book.ensure(int(t.max()))
        ex, cash = div.ex_day[s], div.cash[s].astype(np.float64)
        year = (ex >= 0) & (ex <= t[:, None]) & (ex > (t - YEAR_DAYS)[:, None])
        paid: Array[np.float64] = np.where(year, cash, 0.0).sum(axis=1)
        return paid

    def declared(self, s: IntArray, annual: IntArray) -> Array[np.float64]:
        """Cents per share declared out of the newest annual report's profit (dv_ratio's
        numerator, the static yield); NaN when that year pays nothing."""
        f = self.f
        fiscal = f.years[np.maximum(annual, 0)] - f.years[0]
        profit = np.maximum(np.nan_to_num(self._pick(self.np_ytd, s, annual)), 0.0)
        cents = np.floor(f.payout[s, fiscal] * profit / f.shares[s] * 100)
        return np.where((annual >= 0) & (cents >= 1), cents, np.nan)

    def metrics(self, t: IntArray, s: IntArray) -> dict[str, Array[np.float64]]:
        """Per-pair market value and the fundamentals behind the multiples (yuan)."""
        u, book = self.bars.u, self.bars.book
        pre, close = gather(book, t, s, "pre"), gather(book, t, s, "close")
        dates = self.bars.days.trade_dates[t]
        col = self.latest_report(s, dates)
        annual = self.latest_report(s, dates, annual=True)
        return {
            "close_c": close.astype(np.float64),
            "vol": self.bars.volume(t, s, pre, close),
            "total_mv": close / 100 * u.total_share[s],
            "circ_mv": close / 100 * u.float_share[s],
            "np_annual": self._pick(self.np_ytd, s, annual),
            "declared": self.declared(s, annual),
            "np_ttm": self._pick(self.np_ttm, s, col),
            "rev_annual": self._pick(self.rev_ytd, s, annual),
            "rev_ttm": self._pick(self.rev_ttm, s, col),
            "equity": self._pick(self.f.equity, s, col),
        }

    def daily_basic(self, t: IntArray, s: IntArray) -> pd.DataFrame:
        u = self.bars.u
        m = self.metrics(t, s)
        mv_yuan = m["total_mv"] * 1e4
        year = self.paid_last_year(t, s)
        cols = {
            "close": m["close_c"] / 100,
            "turnover_rate": np.round(m["vol"] / u.float_share[s], 4),
            "turnover_rate_f": np.round(m["vol"] / u.free_share[s], 4),
            "volume_ratio": self.volume_ratio(t, s, m["vol"]),
            "pe": _positive_ratio(mv_yuan, m["np_annual"]),
            "pe_ttm": _positive_ratio(mv_yuan, m["np_ttm"]),
            "pb": _positive_ratio(mv_yuan, m["equity"]),
            "ps": _positive_ratio(mv_yuan, m["rev_annual"]),
            "ps_ttm": _positive_ratio(mv_yuan, m["rev_ttm"]),
            "dv_ratio": np.round(m["declared"] / m["close_c"] * 100, 4),
            "dv_ttm": np.where(year > 0, np.round(year / m["close_c"] * 100, 4), np.nan),
            "total_share": u.total_share[s],
            "float_share": u.float_share[s],
            "free_share": u.free_share[s],
            "total_mv": np.round(m["total_mv"], 4),
            "circ_mv": np.round(m["circ_mv"], 4),
        }
        return self.bars.frame(t, s, cols)
