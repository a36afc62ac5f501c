"""``weekly`` and ``monthly`` bars aggregated from the very same daily bars.

A period's trade_date is its last trading day; open is the first bar's open, close the last
bar's close, high/low the extremes, vol/amount the sums, and pre_close the previous period's
close (the last bar before the period).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.typing import NDArray as Array

from twilight_sim.bars import BarView
from twilight_sim.prices import BLOCK_DAYS

IntArray = npt.NDArray[np.int64]
KINDS = {"weekly": "week", "monthly": "month"}
LOOKBACK = 64  # trading days searched back for the last close (suspensions last < 60 days)


class PeriodView:
    def __init__(self, bars: BarView) -> None:
        self.bars = bars
        self.ends: dict[str, IntArray] = {}
        self.starts: dict[str, IntArray] = {}
        for api, kind in KINDS.items():
            ends = np.flatnonzero(bars.days.period_ends(kind))
            self.ends[api] = ends
            self.starts[api] = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)

    def period_range(
        self, api: str, start: int | None, end: int | None, last_day: int
    ) -> tuple[int, int]:
        """Periods [p0, p1) whose end date lies in [start, end] and is visible by ``last_day``."""
        end_dates = self.bars.days.trade_dates[self.ends[api]]
        p0 = 0 if start is None else int(np.searchsorted(end_dates, start, "left"))
        p1 = int(np.searchsorted(self.ends[api], last_day, "right"))
        if end is not None:
            p1 = min(p1, int(np.searchsorted(end_dates, end, "right")))
        return p0, max(p0, p1)

    def _bar_mask(self, d0: int, d1: int, stocks: IntArray | None) -> Array[np.bool_]:
        parts = []
        for b in range(d0 // BLOCK_DAYS, (d1 - 1) // BLOCK_DAYS + 1):
            pre = self.bars.book.block(b).pre
            rows = pre[max(d0 - b * BLOCK_DAYS, 0) : d1 - b * BLOCK_DAYS]
            parts.append((rows if stocks is None else rows[:, stocks]) > 0)
        return np.concatenate(parts)

    def select(
        self, api: str, p0: int, p1: int, stocks: IntArray | None, offset: int, limit: int
    ) -> tuple[IntArray, IntArray, int]:
        """One page of (period, stock) pairs, newest period first, then by code."""
        if p1 <= p0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
        starts, ends = self.starts[api], self.ends[api]
        d0, d1 = int(starts[p0]), int(ends[p1 - 1]) + 1
        mask = self._bar_mask(d0, d1, stocks)
        has = np.logical_or.reduceat(mask, starts[p0:p1] - d0, axis=0)[::-1]
        rows, idx = np.nonzero(has)
        total = rows.size
        take = slice(offset, offset + max(limit, 0))
        cols = np.arange(self.bars.u.size) if stocks is None else stocks
        return (p1 - 1 - rows[take]).astype(np.int64), cols[idx[take]].astype(np.int64), total

    def frame(self, api: str, p: IntArray, s: IntArray) -> pd.DataFrame:
        if p.size == 0:
            return self.bars.frame(
                p,
                s,
                {
                    k: np.zeros(0)
                    for k in (
                        "close",
                        "open",
                        "high",
                        "low",
                        "pre_close",
                        "change",
                        "pct_chg",
                        "vol",
                        "amount",
                    )
                },
            )
        starts, ends = self.starts[api], self.ends[api]
        stocks, col = np.unique(s, return_inverse=True)
        pmin, pmax = int(p.min()), int(p.max())
        first_day = int(starts[pmin])
        lo = max(first_day - LOOKBACK, 0)
        win = self.bars.book.window(lo, int(ends[pmax]) + 1, stocks)
        valid = win.pre > 0
        row_idx = np.broadcast_to(np.arange(valid.shape[0])[:, None], valid.shape)
        last_bar = np.maximum.accumulate(np.where(valid, row_idx, -1), axis=0)
        valid[: first_day - lo] = False  # lookback rows only feed pre_close
        r, c = np.nonzero(valid)
        bars = self.bars.ohlcv(
            r + lo, stocks[c], win.pre[r, c].astype(np.int64), win.close[r, c].astype(np.int64)
        )
        seg = starts[pmin : pmax + 1] - lo

        def matrix(name: str, fill: float) -> Array[np.float64]:
            out = np.full(valid.shape, fill)
            out[r, c] = bars[name]
            return out

        first = np.minimum.reduceat(np.where(valid, row_idx, valid.shape[0]), seg, axis=0)
        last = np.maximum.reduceat(np.where(valid, row_idx, -1), seg, axis=0)
        k = p - pmin
        f, la = first[k, col], last[k, col]
        open_, close = matrix("open", np.nan)[f, col], matrix("close", np.nan)[la, col]
        before = np.where(seg[k] > 0, last_bar[np.maximum(seg[k] - 1, 0), col], -1)
        carried = np.where(before >= 0, win.close[np.maximum(before, 0), col], 0) / 100
        pre = np.where(carried > 0, carried, matrix("pre_close", np.nan)[f, col])
        cols = {
            "close": close,
            "open": open_,
            "high": np.fmax.reduceat(matrix("high", np.nan), seg, axis=0)[k, col],
            "low": np.fmin.reduceat(matrix("low", np.nan), seg, axis=0)[k, col],
            "pre_close": pre,
            "change": np.round(close - pre, 2),
            "pct_chg": np.round((close - pre) / pre * 100, 4),
            "vol": np.round(np.add.reduceat(matrix("vol", 0.0), seg, axis=0)[k, col], 2),
            "amount": np.round(np.add.reduceat(matrix("amount", 0.0), seg, axis=0)[k, col], 3),
        }
        return self.bars.frame(ends[p], s, cols)
