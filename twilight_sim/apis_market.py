"""Handlers of the market-data APIs: reference data, bars, valuation and indices.

A handler gets the parsed params, what the clock lets it see, and the page (offset, limit);
it returns that page's rows (newest first for time series) and the total matching row count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from twilight_sim.clock import Visibility
from twilight_sim.indices import BAR_SERIES, BASIC_SERIES
from twilight_sim.params import ParamError, Params
from twilight_sim.universe import BOARDS, EXIT_DELISTED, EXIT_PAUSED

if TYPE_CHECKING:
    from twilight_sim.market_data import MarketData

IntArray = npt.NDArray[np.int64]
Page = tuple[pd.DataFrame, int]
Handler = Callable[["MarketData", Params, Visibility, int, int], Page]


def stock_indices(m: MarketData, codes: list[str] | None) -> IntArray | None:
    """Row numbers of known codes, in code order; unknown codes simply match nothing."""
    if codes is None:
        return None
    found = {m.universe.index_of(c) for c in codes}
    return np.array(sorted(i for i in found if i >= 0), dtype=np.int64)


def day_range(m: MarketData, p: Params, vis: Visibility) -> tuple[int, int]:
    """Trading-day indices [t0, t1) asked for and already published."""
    trade_date = p.date("trade_date")
    if trade_date is not None:
        t = m.days.day_index(trade_date)
        t0, t1 = (t, t + 1) if t >= 0 else (0, 0)
    else:
        t0, t1 = m.days.index_range(p.date("start_date"), p.date("end_date"))
    return t0, max(t0, min(t1, vis.last_day + 1))


def page(frame: pd.DataFrame, offset: int, limit: int) -> Page:
    """Rows [offset, offset + limit) of a fully built answer, with its total."""
    return frame.iloc[offset : offset + limit].reset_index(drop=True), len(frame)


def stock_basic(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    u = m.universe
    gone = (u.exit_date > 0) & (u.exit_date <= vis.today)
    status = np.where(
        gone & (u.exit_kind == EXIT_DELISTED),
        "D",
        np.where(gone & (u.exit_kind == EXIT_PAUSED), "P", "L"),
    )
    ok = (u.list_date <= vis.today) & (status == (p.text("list_status", ("L", "D", "P")) or "L"))
    exchange = np.array([BOARDS[b].exchange for b in u.board])
    market = np.array([BOARDS[b].market for b in u.board])
    for name, values in (
        ("exchange", exchange),
        ("market", market),
        ("name", np.array(u.name)),
        ("is_hs", np.array(u.is_hs)),
    ):
        wanted = p.text(name)
        if wanted is not None:
            ok &= values == wanted
    subset = stock_indices(m, p.codes())
    if subset is not None:
        ok &= np.isin(np.arange(u.size), subset)
    i = np.flatnonzero(ok)
    text = {
        name: np.asarray(getattr(u, name), dtype=object)[i]
        for name in (
            "ts_code",
            "symbol",
            "name",
            "area",
            "industry",
            "fullname",
            "enname",
            "cnspell",
            "is_hs",
            "act_name",
            "act_ent_type",
        )
    }
    frame = pd.DataFrame(
        {
            **text,
            "market": market[i].astype(object),
            "exchange": exchange[i].astype(object),
            "curr_type": "CNY",
            "list_status": status[i].astype(object),
            "list_date": u.list_date[i].astype(str).astype(object),
            # numpy's stubs take no None branch in where(); numpy makes an object array.
            "delist_date": np.where(  # type: ignore[call-overload]
                status[i] == "D", u.exit_date[i].astype(str), None
            ),
        }
    )
    return page(frame, offset, limit)


def trade_cal(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    exchange = p.text("exchange", ("SSE", "SZSE")) or "SSE"
    cal = m.calendar
    ok = np.ones(cal.cal_dates.size, dtype=bool)
    start, end = p.date("start_date"), p.date("end_date")
    if start is not None:
        ok &= cal.cal_dates >= start
    if end is not None:
        ok &= cal.cal_dates <= end
    is_open = p.text("is_open", ("0", "1"))
    if is_open is not None:
        ok &= cal.is_open == (is_open == "1")
    i = np.flatnonzero(ok)[::-1]
    frame = pd.DataFrame(
        {
            "exchange": exchange,
            "cal_date": cal.cal_dates[i].astype(str).astype(object),
            "is_open": cal.is_open[i].astype(np.int64),
            "pretrade_date": cal.pretrade[i].astype(str).astype(object),
        }
    )
    return page(frame, offset, limit)


def daily(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    t0, t1 = day_range(m, p, vis)
    t, s, total = m.bars.select(t0, t1, stock_indices(m, p.codes()), offset, limit)
    return m.bars.daily(t, s), total


def adj_factor(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    t0, t1 = day_range(m, p, vis)
    t, s, total = m.bars.select(t0, t1, stock_indices(m, p.codes()), offset, limit, listed=True)
    return m.bars.frame(t, s, {"adj_factor": m.bars.adj_factor(t, s)}), total


def daily_basic(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    t0, t1 = day_range(m, p, vis)
    t, s, total = m.bars.select(t0, t1, stock_indices(m, p.codes()), offset, limit)
    return m.valuation.daily_basic(t, s), total


def _periodic(api: str, m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    trade_date = p.date("trade_date")
    start, end = (
        (trade_date, trade_date) if trade_date else (p.date("start_date"), p.date("end_date"))
    )
    p0, p1 = m.periods.period_range(api, start, end, vis.last_day)
    pi, s, total = m.periods.select(api, p0, p1, stock_indices(m, p.codes()), offset, limit)
    return m.periods.frame(api, pi, s), total


def weekly(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    return _periodic("weekly", m, p, vis, offset, limit)


def monthly(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    return _periodic("monthly", m, p, vis, offset, limit)


def index_basic(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    frame = m.indices.basic_frame()
    for name in ("ts_code", "name", "market", "publisher", "category"):
        wanted = p.text(name)
        if wanted is not None:
            frame = frame[frame[name] == wanted]
    return page(frame, offset, limit)


def _index_ids(m: MarketData, codes: list[str] | None) -> list[int]:
    if codes is None:
        return list(range(len(m.indices.defs)))
    return sorted(i for i in (m.indices.find(c) for c in codes) if i >= 0)


def _index_rows(
    m: MarketData,
    p: Params,
    vis: Visibility,
    ids: list[int],
    offset: int,
    limit: int,
    columns: tuple[str, ...],
) -> Page:
    t0, t1 = day_range(m, p, vis)
    days = np.arange(t1 - 1, t0 - 1, -1)
    t = np.repeat(days, len(ids))
    which = np.tile(np.array(ids, dtype=np.int64), days.size)
    total = t.size
    t, which = t[offset : offset + limit], which[offset : offset + limit]
    cols: dict[str, object] = {
        "ts_code": np.array([m.indices.defs[i].ts_code for i in which], dtype=object),
        "trade_date": m.days.trade_dates[t].astype(str).astype(object),
    }
    for name in columns:
        values = np.empty(t.size)
        for i in ids:
            hit = which == i
            values[hit] = m.indices.series(i)[name][t[hit]]
        cols[name] = values
    return pd.DataFrame(cols), total


def index_daily(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    ids = _index_ids(m, [p.require("ts_code")])
    frame, total = _index_rows(
        m,
        p,
        vis,
        ids,
        offset,
        limit,
        BAR_SERIES,
    )
    frame["change"] = frame["close"].round(4) - frame["pre_close"].round(4)
    frame["pct_chg"] = frame["change"] / frame["pre_close"].round(4) * 100
    return frame, total


def index_dailybasic(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    ids = _index_ids(m, p.codes())
    return _index_rows(
        m,
        p,
        vis,
        ids,
        offset,
        limit,
        BASIC_SERIES,
    )


def index_weight(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    code = p.require("index_code")
    i = m.indices.find(code)
    if i < 0:
        if code.count(".") != 1:
            raise ParamError(f"参数错误: index_code={code!r}")
        return page(m.indices.weights_frame(0, np.zeros(0, np.int64)), offset, limit)
    dates = m.days.trade_dates[m.indices.rebalance]
    ok = dates <= vis.today
    trade_date = p.date("trade_date")
    if trade_date is not None:
        ok &= dates == trade_date
    start, end = p.date("start_date"), p.date("end_date")
    if start is not None:
        ok &= dates >= start
    if end is not None:
        ok &= dates <= end
    frame = m.indices.weights_frame(i, np.flatnonzero(ok)[::-1])
    frame = frame.sort_values(["trade_date", "weight"], ascending=[False, False], kind="stable")
    return page(frame, offset, limit)
