"""Indices computed from their constituents: monthly membership/weights, daily levels, basics.

Constituents are re-ranked by market value at every month's first trading day (the dates of
``index_weight``); the level moves by the cap-weighted return of its members, so an index's
open/high/low/close, volume and valuation all follow from the same stock bars.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from twilight_sim.bars import BarView
from twilight_sim.universe import BOARDS
from twilight_sim.valuation import Valuation

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
FULL_MARKET = 5000  # member counts below are for a market of this size, and scale with it
WEIGHT_CAP = 0.10  # no constituent weighs more than 10% (as CSI caps its indices)


@dataclass(frozen=True)
class IndexDef:
    ts_code: str
    name: str
    fullname: str
    market: str
    publisher: str
    category: str
    base_date: str
    base_point: float
    list_date: str
    weight_rule: str
    exchange: int | None  # 0 SSE, 1 SZSE, None for both
    boards: tuple[int, ...] | None
    rank_lo: int
    rank_hi: int | None  # None: every eligible stock
    level: float  # level on the day before the simulated range


_CSI, _SZ = "中证指数有限公司", "深圳证券信息有限公司"
INDEX_DEFS = (
    IndexDef(
        "000001.SH",
        "上证指数",
        "上证综合指数",
        "SSE",
        _CSI,
        "综合指数",
        "19901219",
        100.0,
        "19910715",
        "总市值加权",
        0,
        None,
        0,
        None,
        3500.0,
    ),
    IndexDef(
        "000300.SH",
        "沪深300",
        "沪深300指数",
        "CSI",
        _CSI,
        "规模指数",
        "20041231",
        1000.0,
        "20050408",
        "自由流通市值加权",
        None,
        None,
        0,
        300,
        4900.0,
    ),
    IndexDef(
        "000905.SH",
        "中证500",
        "中证小盘500指数",
        "CSI",
        _CSI,
        "规模指数",
        "20041231",
        1000.0,
        "20070115",
        "自由流通市值加权",
        None,
        None,
        300,
        800,
        7000.0,
    ),
    IndexDef(
        "399001.SZ",
        "深证成指",
        "深证成份指数",
        "SZSE",
        _SZ,
        "规模指数",
        "19940720",
        1000.0,
        "19950123",
        "自由流通市值加权",
        1,
        None,
        0,
        500,
        14000.0,
    ),
    IndexDef(
        "399006.SZ",
        "创业板指",
        "创业板指数",
        "SZSE",
        _SZ,
        "规模指数",
        "20100531",
        1000.0,
        "20100601",
        "自由流通市值加权",
        1,
        (2,),
        0,
        100,
        3300.0,
    ),
    IndexDef(
        "000016.SH",
        "上证50",
        "上证50指数",
        "SSE",
        _CSI,
        "规模指数",
        "20031231",
        1000.0,
        "20040102",
        "自由流通市值加权",
        0,
        None,
        0,
        50,
        3200.0,
    ),
    IndexDef(
        "000852.SH",
        "中证1000",
        "中证1000指数",
        "CSI",
        _CSI,
        "规模指数",
        "20041231",
        1000.0,
        "20141017",
        "自由流通市值加权",
        None,
        None,
        800,
        1800,
        7500.0,
    ),
)
# What index_daily serves, then what index_dailybasic serves: one history per index each.
BAR_SERIES = ("close", "open", "high", "low", "pre_close", "vol", "amount")
BASIC_SERIES = (
    "total_mv",
    "float_mv",
    "total_share",
    "float_share",
    "free_share",
    "turnover_rate",
    "turnover_rate_f",
    "pe",
    "pe_ttm",
    "pb",
)
SERIES = BAR_SERIES + BASIC_SERIES


def _cap_weights(weights: FloatArray, cap: float) -> FloatArray:
    """Clip weights at ``cap`` and hand the excess to the others in proportion."""
    w = weights.copy()
    for _ in range(50):
        over = w > cap + 1e-12
        if not over.any():
            break
        excess = (w[over] - cap).sum()
        w[over] = cap
        w[~over] += excess * w[~over] / w[~over].sum()
    return w


class IndexBook:
    def __init__(self, bars: BarView, valuation: Valuation, n_indices: int) -> None:
        if not 1 <= n_indices <= len(INDEX_DEFS):
            raise ValueError(f"n_indices must be between 1 and {len(INDEX_DEFS)}")
        self.bars, self.val = bars, valuation
        self.defs = INDEX_DEFS[:n_indices]
        months = bars.days.trade_dates // 100
        self.rebalance = np.flatnonzero(np.concatenate([[True], months[1:] != months[:-1]]))
        self._members: dict[tuple[int, int], tuple[IntArray, FloatArray, FloatArray]] = {}
        self._series: dict[int, dict[str, FloatArray]] = {}
        self._lock = threading.RLock()

    def find(self, ts_code: str) -> int:
        return next((i for i, d in enumerate(self.defs) if d.ts_code == ts_code), -1)

    def _scaled(self, count: int) -> int:
        return max(10, round(count * self.bars.u.size / FULL_MARKET))

    def members(self, i: int, m: int) -> tuple[IntArray, FloatArray, FloatArray]:
        """Constituents, weights (%) and cap factors of index ``i`` for rebalance month ``m``."""
        with self._lock:
            key = (i, m)
            if key not in self._members:
                self._members[key] = self._rank(self.defs[i], int(self.rebalance[m]))
            return self._members[key]

    def _rank(self, d: IndexDef, day: int) -> tuple[IntArray, FloatArray, FloatArray]:
        u, book = self.bars.u, self.bars.book
        ref = book.window(max(day - 1, 0), max(day, 1)).close[0].astype(np.float64)
        seasoned = book.list_idx <= day - 20
        ok = (ref > 0) & seasoned
        if d.exchange is not None:
            exch = "SSE" if d.exchange == 0 else "SZSE"
            ok &= np.array([BOARDS[b].exchange == exch for b in u.board])
        if d.boards is not None:
            ok &= np.isin(u.board, d.boards)
        if d.rank_hi is not None:
            ok &= ~u.is_st
        mv = ref * u.total_share
        order = np.flatnonzero(ok)[np.argsort(-mv[ok], kind="stable")]
        if d.rank_hi is not None:
            order = order[self._scaled(d.rank_lo) if d.rank_lo else 0 : self._scaled(d.rank_hi)]
        stocks = np.sort(order).astype(np.int64)
        if stocks.size == 0:
            return stocks, mv[:0], mv[:0]
        raw = mv[stocks] / mv[stocks].sum()
        capped = _cap_weights(raw, max(WEIGHT_CAP, 1.5 / stocks.size))
        return stocks, np.round(capped * 100, 4), capped / raw

    def series(self, i: int) -> dict[str, FloatArray]:
        """Daily index columns over the whole range (computed once, then cached)."""
        with self._lock:
            if i not in self._series:
                self._series[i] = self._compute(i)
            return self._series[i]

    def _compute(self, i: int) -> dict[str, FloatArray]:
        n_days = self.bars.days.n_days
        out = {name: np.full(n_days, np.nan) for name in SERIES}
        bounds = np.append(self.rebalance, n_days)
        level = self.defs[i].level * (1 + 0.05 * self.bars.rng.scalar("idxlvl", i))
        for m in range(self.rebalance.size):
            stocks, _, factor = self.members(i, m)
            level = self._segment(out, stocks, factor, int(bounds[m]), int(bounds[m + 1]), level)
        return out

    def _segment(
        self,
        out: dict[str, FloatArray],
        stocks: IntArray,
        factor: FloatArray,
        t0: int,
        t1: int,
        level: float,
    ) -> float:
        u = self.bars.u
        lo = max(t0 - 1, 0)
        win = self.bars.book.window(lo, t1, stocks)
        rows = t1 - t0
        close = win.close[t0 - lo :].astype(np.float64)
        prev = (
            win.close[:-1].astype(np.float64)
            if t0 > 0
            else np.vstack([np.where(win.pre[0] > 0, win.pre[0], close[0])[None, :], close[:-1]])
        )
        shares = u.total_share[stocks] * 1e4
        mv_prev = prev * shares * factor
        weight = mv_prev / np.maximum(mv_prev.sum(axis=1, keepdims=True), 1.0)
        pre = win.pre[t0 - lo :]
        r, c = np.nonzero(pre > 0)
        t, s = r + t0, stocks[c]
        bars = self.bars.ohlcv(t, s, pre[r, c].astype(np.int64), close[r, c].astype(np.int64))
        metrics = self.val.metrics(t, s)
        for key in ("open", "high", "low", "close"):
            ratio = np.zeros((rows, stocks.size))
            ratio[r, c] = bars[key] / bars["pre_close"] - 1
            out_key = (weight * ratio).sum(axis=1)
            out[key][t0:t1] = out_key  # returns for now, turned into levels below
        for key in ("vol", "amount"):
            out[key][t0:t1] = np.bincount(r, bars[key], minlength=rows)
        self._basics(out, t0, t1, close, stocks, r, metrics)
        for k in range(t0, t1):
            rets = {key: out[key][k] for key in ("open", "high", "low", "close")}
            out["pre_close"][k] = level
            for key, ret in rets.items():
                out[key][k] = level * (1 + ret)
            level = out["close"][k]
        return level

    def _basics(
        self,
        out: dict[str, FloatArray],
        t0: int,
        t1: int,
        close: FloatArray,
        stocks: IntArray,
        r: IntArray,
        metrics: dict[str, FloatArray],
    ) -> None:
        u = self.bars.u
        rows = t1 - t0
        price = close / 100
        out["total_mv"][t0:t1] = (price * u.total_share[stocks]).sum(axis=1) * 1e4
        out["float_mv"][t0:t1] = (price * u.float_share[stocks]).sum(axis=1) * 1e4
        listed = close > 0
        for key, arr in (
            ("total_share", u.total_share),
            ("float_share", u.float_share),
            ("free_share", u.free_share),
        ):
            out[key][t0:t1] = (listed * arr[stocks]).sum(axis=1) * 1e4
        vol_shares = np.bincount(r, metrics["vol"] * 100, minlength=rows)
        mv = np.bincount(r, metrics["total_mv"] * 1e4, minlength=rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["turnover_rate"][t0:t1] = vol_shares / out["float_share"][t0:t1] * 100
            out["turnover_rate_f"][t0:t1] = vol_shares / out["free_share"][t0:t1] * 100
            for key, driver in (("pe", "np_annual"), ("pe_ttm", "np_ttm"), ("pb", "equity")):
                earn = np.bincount(r, np.nan_to_num(metrics[driver]), minlength=rows)
                out[key][t0:t1] = np.where(earn > 0, mv / earn, np.nan)

    def weights_frame(self, i: int, months: IntArray) -> pd.DataFrame:
        frames = []
        dates = self.bars.days.trade_dates
        for m in months:
            stocks, weights, _ = self.members(i, int(m))
            frames.append(
                pd.DataFrame(
                    {
                        "index_code": self.defs[i].ts_code,
                        "con_code": np.asarray(self.bars.u.ts_code, dtype=object)[stocks],
                        "trade_date": str(dates[self.rebalance[m]]),
                        "weight": weights,
                    }
                )
            )
        cols = ["index_code", "con_code", "trade_date", "weight"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)

    def basic_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "ts_code": d.ts_code,
                    "name": d.name,
                    "fullname": d.fullname,
                    "market": d.market,
                    "publisher": d.publisher,
                    "index_type": d.category,
                    "category": d.category,
                    "base_date": d.base_date,
                    "base_point": d.base_point,
                    "list_date": d.list_date,
                    "weight_rule": d.weight_rule,
                    "desc": f"{d.fullname}（模拟市场）",
                    "exp_date": None,
                }
                for d in self.defs
            ]
        )
