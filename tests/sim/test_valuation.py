"""Valuations pass a quant's glance: multiples agree with the simulator's own statements and
prices, loss-makers have no P/E, and the cross-section stays in real A-share ranges for years.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from twilight_sim.market import Market

DATES = ["20160930", "20181228", "20200930", "20221230", "20241129"]
YEAR_ENDS = ["20151231", "20171229", "20191231", "20211231", "20231229", "20241231"]


@lru_cache(maxsize=1)
def decade() -> Market:
    """400 stocks over ten years: long enough for fundamentals and prices to drift apart."""
    return Market(seed=11, n_stocks=400, start_date="20150101", end_date="20241231")


def _reports(m: Market, day: str) -> pd.DataFrame:
    """Original income and balance-sheet rows announced by ``day``, with total shares."""
    codes = ",".join(m.universe.ts_code)
    keys = ["ts_code", "ann_date", "end_date"]
    inc = m.income(
        ts_code=codes,
        now=f"{day}T23:59",
        fields="ts_code,ann_date,end_date,update_flag,basic_eps,total_revenue,n_income_attr_p",
    )
    bs = m.balancesheet(
        ts_code=codes,
        now=f"{day}T23:59",
        fields="ts_code,ann_date,end_date,update_flag,total_hldr_eqy_exc_min_int",
    )
    inc, bs = inc[inc.update_flag == "0"], bs[bs.update_flag == "0"]
    both = inc.merge(bs.drop(columns="update_flag"), on=keys)
    return both[both.ann_date <= day]


def _ttm(rows: pd.DataFrame, latest: pd.Series, column: str) -> float:
    """Trailing four quarters of a year-to-date flow: latest + last annual - same period a year
    before (NaN when a report is missing)."""
    end = str(latest.end_date)
    if end.endswith("1231"):
        return float(latest[column])
    by_end = rows.set_index("end_date")[column]
    year = int(end[:4])
    prior, annual = f"{year - 1}{end[4:]}", f"{year - 1}1231"
    if prior not in by_end or annual not in by_end:
        return float("nan")
    return float(latest[column] + by_end[annual] - by_end[prior])


def _agrees(multiple: float, close: float, per_share: float) -> bool:
    """A multiple published to 4 decimals equals price / per-share value within rounding."""
    return bool(np.isclose(multiple, close / per_share, rtol=1e-4, atol=6e-5))


@pytest.mark.parametrize("day", DATES)
def test_multiples_agree_with_statements_and_prices(day: str) -> None:
    """pe x EPS = price, pb x book value per share = price, ps x sales per share = price, each
    from the newest report announced by that day; loss-makers (and no report yet) have no pe."""
    m = decade()
    db = m.daily_basic(trade_date=day).set_index("ts_code")
    reports = _reports(m, day)
    checked = losers = 0
    for code, rows in reports.groupby("ts_code"):
        if code not in db.index:
            continue
        v = db.loc[code]
        shares = v.total_share * 1e4
        rows = rows.sort_values("end_date")
        latest = rows.iloc[-1]
        annual = rows[rows.end_date.str.endswith("1231")]
        assert _agrees(v.pb, v.close, latest.total_hldr_eqy_exc_min_int / shares), code
        ttm_profit = _ttm(rows, latest, "n_income_attr_p")
        if ttm_profit > 0:
            assert _agrees(v.pe_ttm, v.close, ttm_profit / shares), code
            assert _agrees(v.ps_ttm, v.close, _ttm(rows, latest, "total_revenue") / shares), code
        elif ttm_profit <= 0:
            assert np.isnan(v.pe_ttm), f"{code} lost money over the last year: pe_ttm is null"
        if annual.empty:
            assert np.isnan(v.pe)
            continue
        year = annual.iloc[-1]
        assert _agrees(v.ps, v.close, year.total_revenue / shares), code
        if year.n_income_attr_p <= 0:
            assert np.isnan(v.pe), f"{code} made a loss in {year.end_date}: pe must be null"
            losers += 1
            continue
        assert _agrees(v.pe, v.close, year.n_income_attr_p / shares), code
        # The published EPS is rounded to the fen: pe x EPS is the price within that rounding.
        assert abs(v.pe * year.basic_eps - v.close) <= v.pe * 0.005 + 0.01
        checked += 1
    assert checked > 150 and losers > 0


def test_dividends_come_out_of_reported_profit() -> None:
    """Dividend yield x P/E is the payout ratio: a company pays at most what it earned. The
    static yield (dv_ratio) is what the newest annual report declared; after the summer's
    ex-days the trailing yield (dv_ttm) is that same dividend, paid."""
    m = decade()
    payouts, same = [], []
    for day in ("20161031", "20191031", "20221031", "20241031"):
        db = m.daily_basic(trade_date=day)
        assert (db.dv_ratio.isna() | db.pe.notna()).all(), "a dividend out of a loss"
        assert (db.dv_ttm.isna() | (db.dv_ttm > 0)).all()
        payers = db[db.dv_ratio.notna()]
        payouts.append(payers.dv_ratio * payers.pe / 100)
        both = db[db.dv_ttm.notna() & db.dv_ratio.notna()]
        same.append(np.isclose(both.dv_ttm, both.dv_ratio, rtol=1e-3, atol=1e-4))
    ratio = pd.concat(payouts)
    assert len(ratio) > 300
    assert (ratio <= 0.91).all(), ratio.max()
    assert 0.2 < ratio.median() < 0.5
    assert np.concatenate(same).mean() > 0.95


def test_multiples_stay_in_real_market_ranges() -> None:
    """The cross-section looks like the A-share market at every year end, not only the first:
    P/E around 30 (banks near 5, small earners in the hundreds), P/B around 2, a loss-maker in
    every ten or so; large caps cheaper than the median stock, so the CSI 300 sits lower."""
    m = decade()
    for day in YEAR_ENDS:
        db = m.daily_basic(trade_date=day)
        pe = db.pe_ttm.dropna()
        assert 0.05 < db.pe_ttm.isna().mean() < 0.35, day
        assert pe.quantile(0.01) > 3 and 15 < pe.median() < 60 and pe.quantile(0.9) < 400, day
        assert 0.3 < db.pb.quantile(0.01) and 1.2 < db.pb.median() < 4.5, day
        assert db.pb.quantile(0.95) < 15, day
        assert 0.8 < db.ps_ttm.median() < 8 and db.ps_ttm.quantile(0.01) > 0.1, day
        assert 0.3 < db.dv_ttm.dropna().median() < 4, day
        assert 5 < db.close.median() < 50 and db.close.quantile(0.99) < 400, day
        large = db.nlargest(len(db) // 10, "total_mv")
        assert large.pe_ttm.median() < pe.median() and large.pe_ttm.isna().mean() < 0.2, day
        csi300 = m.index_dailybasic(ts_code="000300.SH", trade_date=day)
        assert 8 < csi300.pe_ttm.iloc[0] < 35, day
