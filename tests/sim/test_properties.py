"""Property tests: the simulated market obeys the rules real A-share data obeys.

Markets are drawn from random seeds (small, cached); stocks and dates are drawn from them.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twilight_sim.calendar import TradingCalendar, spring_festival
from twilight_sim.market import Market
from twilight_sim.universe import BOARDS

# database=None: no .hypothesis/ folder in the repository; the seeds are drawn afresh each run.
PROPS = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


@lru_cache(maxsize=4)
def small_market(seed: int) -> Market:
    return Market(seed=seed, n_stocks=24, start_date="20230101", end_date="20241231")


def _limit(m: Market, code: str, trade_date: str) -> int:
    i = m.universe.index_of(code)
    if m.universe.is_st[i]:
        return 5
    if m.universe.board[i] == 2 and trade_date < "20200824":
        return 10
    return BOARDS[int(m.universe.board[i])].limit_pct


def _cents(x: pd.Series) -> np.ndarray:
    return np.round(x.to_numpy(float) * 100).astype(np.int64)


@PROPS
@given(seed=seeds, pick=st.integers(0, 23))
def test_daily_bars_respect_limits_and_are_self_consistent(seed: int, pick: int) -> None:
    m = small_market(seed)
    code = m.universe.ts_code[pick]
    d = m.daily(ts_code=code)
    if d.empty:
        return
    lim = np.array([_limit(m, code, t) for t in d["trade_date"]])
    pre, o, h, lo, c = (_cents(d[k]) for k in ("pre_close", "open", "high", "low", "close"))
    up, down = (pre * (100 + lim) + 50) // 100, np.maximum((pre * (100 - lim) + 50) // 100, 1)
    assert (h <= up).all() and (lo >= down).all()
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    assert np.allclose(d["change"], np.round((c - pre) / 100, 2))
    assert np.allclose(d["pct_chg"], np.round((c - pre) / pre * 100, 4))
    assert (d["vol"] > 0).all()
    vwap = d["amount"] * 1000 / (d["vol"] * 100)  # thousand yuan / shares
    assert ((vwap >= d["low"] - 0.011) & (vwap <= d["high"] + 0.011)).all()
    assert list(d["trade_date"]) == sorted(d["trade_date"], reverse=True)


@PROPS
@given(seed=seeds, pick=st.integers(0, 23))
def test_pre_close_is_previous_close_unless_ex_rights(seed: int, pick: int) -> None:
    m = small_market(seed)
    code = m.universe.ts_code[pick]
    d = m.daily(ts_code=code).iloc[::-1].reset_index(drop=True)
    adj = m.adj_factor(ts_code=code).set_index("trade_date")["adj_factor"]
    if len(d) < 2:
        return
    f = adj.reindex(d["trade_date"]).to_numpy()
    same = f[1:] == f[:-1]
    assert np.array_equal(d["pre_close"].to_numpy()[1:][same], d["close"].to_numpy()[:-1][same])
    ex = ~same
    if ex.any():  # ex-rights: pre_close = previous close scaled down by the factor step
        implied = d["close"].to_numpy()[:-1][ex] * f[:-1][ex] / f[1:][ex]
        assert np.allclose(d["pre_close"].to_numpy()[1:][ex], implied, rtol=2e-3)
        assert (d["pre_close"].to_numpy()[1:][ex] < d["close"].to_numpy()[:-1][ex]).all()


@PROPS
@given(seed=seeds, pick=st.integers(0, 23))
def test_qfq_prices_have_no_jump_at_ex_dates(seed: int, pick: int) -> None:
    m = small_market(seed)
    code = m.universe.ts_code[pick]
    d = m.daily(ts_code=code).iloc[::-1].reset_index(drop=True)
    if len(d) < 2:
        return
    adj = m.adj_factor(ts_code=code).set_index("trade_date")["adj_factor"]
    f = adj.reindex(d["trade_date"]).to_numpy()
    qfq = d["close"].to_numpy() * f / f[-1]
    moves = qfq[1:] / qfq[:-1] - 1
    own = (d["close"] / d["pre_close"] - 1).to_numpy()[1:]
    assert np.allclose(moves, own, atol=1.5e-3), "adjusted moves must equal the bar's own move"
    lim = np.array([_limit(m, code, t) for t in d["trade_date"]])[1:] / 100
    assert (np.abs(moves) <= lim + 2e-3).all()


def test_some_stocks_go_ex_dividend(market: Market) -> None:
    adj = market.adj_factor(start_date="20220101")
    steps = adj.groupby("ts_code")["adj_factor"].nunique()
    assert (steps > 1).sum() > len(steps) / 4


def _iso_week(day: str) -> tuple[int, int]:
    return date(int(day[:4]), int(day[4:6]), int(day[6:])).isocalendar()[:2]


@PROPS
@given(seed=seeds, pick=st.integers(0, 23), kind=st.sampled_from(["weekly", "monthly"]))
def test_weekly_and_monthly_aggregate_the_daily_bars(seed: int, pick: int, kind: str) -> None:
    m = small_market(seed)
    code = m.universe.ts_code[pick]
    d = m.daily(ts_code=code).iloc[::-1]
    p = m.query(kind, ts_code=code).iloc[::-1].reset_index(drop=True)
    key = d["trade_date"].map(_iso_week) if kind == "weekly" else d["trade_date"].str[:6]
    groups = list(d.groupby(key, sort=True))
    cal = TradingCalendar(m.start, m.end + 10000)  # a year beyond: is the last period complete?
    open_days = pd.Series(cal.trade_dates.astype(str))
    open_key = open_days.map(_iso_week) if kind == "weekly" else open_days.str[:6]
    last_open = open_days.groupby(open_key).max()
    complete = [(k, g) for k, g in groups if last_open[k] <= str(m.end)]
    assert len(p) == len(complete)
    prev_close = None
    for (k, g), row in zip(complete, p.itertuples(), strict=True):
        assert row.trade_date == last_open[k]
        assert row.open == g["open"].iloc[0] and row.close == g["close"].iloc[-1]
        assert row.high == g["high"].max() and row.low == g["low"].min()
        assert abs(row.vol - g["vol"].sum()) < 0.011 and abs(row.amount - g["amount"].sum()) < 0.002
        if prev_close is not None:
            assert row.pre_close == prev_close
        assert abs(row.change - (row.close - row.pre_close)) < 0.006
        prev_close = row.close


@PROPS
@given(seed=seeds)
def test_statements_obey_accounting_identities(seed: int) -> None:
    m = small_market(seed)
    bs = m.balancesheet_vip(period="20231231")
    assert np.allclose(bs.total_assets, bs.total_liab + bs.total_hldr_eqy_inc_min_int, atol=0.02)
    assert np.allclose(bs.total_assets, bs.total_cur_assets + bs.total_nca, atol=0.02)
    assert np.allclose(bs.total_liab, bs.total_cur_liab + bs.total_ncl, atol=0.02)
    assert np.allclose(
        bs.total_hldr_eqy_inc_min_int, bs.total_hldr_eqy_exc_min_int + bs.minority_int, atol=0.02
    )
    assert np.allclose(bs.total_liab_hldr_eqy, bs.total_assets)
    inc = m.income_vip(period="20231231")
    assert np.allclose(inc.n_income, inc.total_profit - inc.income_tax, atol=0.02)
    assert np.allclose(inc.n_income_attr_p, inc.n_income - inc.minority_gain, atol=0.02)
    assert np.allclose(
        inc.total_profit, inc.operate_profit + inc.non_oper_income - inc.non_oper_exp, atol=0.02
    )
    cf = m.cashflow_vip(period="20231231")
    flows = cf.n_cashflow_act + cf.n_cashflow_inv_act + cf.n_cash_flows_fnc_act + cf.eff_fx_flu_cash
    assert np.allclose(flows, cf.n_incr_cash_cash_equ, atol=0.05)
    assert np.allclose(
        cf.c_cash_equ_end_period - cf.c_cash_equ_beg_period, cf.n_incr_cash_cash_equ, atol=0.02
    )
    merged = cf.merge(bs, on=["ts_code", "ann_date", "end_date"])
    assert np.allclose(merged.c_cash_equ_end_period, merged.money_cap)


@PROPS
@given(
    seed=seeds, period=st.sampled_from(["20230331", "20230630", "20230930", "20231231", "20240630"])
)
def test_indicators_are_derived_from_the_statements(seed: int, period: str) -> None:
    m = small_market(seed)
    keys = ["ts_code", "ann_date", "end_date"]
    fi = m.fina_indicator_vip(period=period)
    st_ = m.income_vip(period=period).merge(m.balancesheet_vip(period=period), on=keys)
    both = fi.merge(st_, on=keys)
    assert len(both) == len(fi) > 0
    assert np.allclose(
        both.roe, both.n_income_attr_p / both.total_hldr_eqy_exc_min_int * 100, rtol=1e-3, atol=1e-3
    )
    assert np.allclose(both.debt_to_assets, both.total_liab / both.total_assets * 100, rtol=1e-4)
    assert np.allclose(both.eps, both.basic_eps)
    # bps is published to 4 decimals: a tiny value carries up to 5e-5 of rounding.
    assert np.allclose(
        both.bps, both.total_hldr_eqy_exc_min_int / both.total_share, rtol=1e-3, atol=6e-5
    )
    assert np.allclose(both.current_ratio, both.total_cur_assets / both.total_cur_liab, rtol=1e-3)


DEADLINE = {"0331": "0430", "0630": "0831", "0930": "1031", "1231": "0430"}


def _deadline(end_date: str) -> str:
    year = int(end_date[:4]) + (1 if end_date.endswith("1231") else 0)
    return f"{year}{DEADLINE[end_date[4:]]}"


@PROPS
@given(seed=seeds)
def test_reports_and_forecasts_come_out_inside_the_legal_windows(seed: int) -> None:
    m = small_market(seed)
    now = "20251231"  # see every announcement, including those after the price range
    dd = m.disclosure_date(now=now)
    assert len(dd) > 0
    for col in ("pre_date", "actual_date"):
        ok = (dd[col] > dd["end_date"]) & (dd[col] <= dd["end_date"].map(_deadline))
        assert ok.all(), dd[~ok]
    assert (dd["ann_date"] <= dd["actual_date"]).all()
    inc = m.income_vip(period="20231231", now=now)
    first = inc[inc.update_flag == "0"].set_index("ts_code")["ann_date"]
    restated = inc[inc.update_flag == "1"]
    assert (restated.ann_date.to_numpy() > first[restated.ts_code].to_numpy()).all()
    assert (restated.f_ann_date == restated.ann_date).all()
    both = dd[dd.end_date == "20231231"].set_index("ts_code")["actual_date"]
    assert (first.sort_index() == both[first.index].sort_index()).all()
    for api in ("forecast_vip", "express_vip"):
        notes = m.query(api, period="20231231", now=now)
        assert (notes.ann_date.to_numpy() < first[notes.ts_code].to_numpy()).all()
        assert (notes.ann_date > "20231231").all()


def test_restatements_exist(market: Market) -> None:
    rows = market.income(ts_code=",".join(market.universe.ts_code), now="20251231")
    assert (rows.update_flag == "1").sum() > 0
    dup = rows.groupby(["ts_code", "end_date", "report_type"]).size()
    assert (dup > 1).any()


@PROPS
@given(seed=seeds)
def test_forecast_ranges_bracket_the_reported_profit(seed: int) -> None:
    m = small_market(seed)
    fc = m.forecast_vip(period="20231231", now="20251231")
    inc = m.income_vip(period="20231231", now="20251231")
    final = inc[inc.update_flag == "0"].set_index("ts_code")["n_income_attr_p"] / 1e4
    got = final[fc.ts_code].to_numpy()
    assert (
        (fc.net_profit_min.to_numpy() - 0.01 <= got) & (got <= fc.net_profit_max.to_numpy() + 0.01)
    ).all()


@settings(max_examples=12, deadline=None, database=None)
@given(year=st.integers(2015, 2030))
def test_trade_calendar_closes_weekends_and_holidays(year: int) -> None:
    cal = TradingCalendar(year * 10000 + 101, year * 10000 + 1231)
    days = [date(year, 1, 1) + timedelta(days=i) for i in range(cal.cal_dates.size)]
    is_open = dict(zip(days, cal.is_open, strict=True))
    assert not any(o for d, o in is_open.items() if d.weekday() >= 5)
    assert not any(is_open[date(year, 10, d)] for d in range(1, 8))
    spring = spring_festival(year)
    closed = [spring + timedelta(days=k) for k in range(-1, 6)]
    assert not any(is_open[d] for d in closed if d.year == year)
    assert sum(cal.is_open) in range(238, 252)
    opens = cal.cal_dates[cal.is_open]
    assert (cal.pretrade[cal.is_open][1:] == opens[:-1]).all()


def test_cross_section_equals_time_series(market: Market) -> None:
    """A warehouse loaded per day and one loaded per stock hold the same numbers."""
    code = market.universe.ts_code[5]
    for api in ("daily", "daily_basic", "adj_factor"):
        by_stock = market.query(api, ts_code=code, start_date="20240501", end_date="20240531")
        by_day = pd.concat([market.query(api, trade_date=t) for t in by_stock.trade_date])
        pd.testing.assert_frame_equal(
            by_stock.reset_index(drop=True), by_day[by_day.ts_code == code].reset_index(drop=True)
        )


def test_valuation_follows_price_and_shares(market: Market) -> None:
    db = market.daily_basic(trade_date="20240510")
    d = market.daily(trade_date="20240510")
    both = db.merge(d, on=["ts_code", "trade_date"], suffixes=("", "_d"))
    assert (both.close == both.close_d).all()
    assert np.allclose(both.total_mv, both.close * both.total_share, rtol=1e-6)
    assert np.allclose(both.turnover_rate, both.vol / both.float_share, rtol=1e-3, atol=1e-4)
    assert (both.free_share <= both.float_share).all() and (
        both.float_share <= both.total_share
    ).all()
    assert db.pe.notna().mean() > 0.6


def test_index_weights_and_levels(market: Market) -> None:
    w = market.index_weight(index_code="000300.SH")
    sums = w.groupby("trade_date")["weight"].sum()
    assert ((sums > 99.9) & (sums < 100.1)).all()
    assert w.trade_date.nunique() >= 30
    for code in ("000001.SH", "000300.SH", "000905.SH", "399001.SZ", "399006.SZ"):
        ix = market.index_daily(ts_code=code)
        assert (ix.high >= ix[["open", "close"]].max(axis=1)).all()
        assert (ix.low <= ix[["open", "close"]].min(axis=1)).all()
        assert np.allclose(ix.pre_close.iloc[:-1].to_numpy(), ix.close.iloc[1:].to_numpy())
        assert (ix.pct_chg.abs() < 11).all()
