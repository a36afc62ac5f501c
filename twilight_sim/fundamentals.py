"""Core financial drivers per (stock, quarter) and the announcement calendar of every report.

Only a handful of driver matrices are kept (revenue, profit, equity, assets, cash); the full
statements are derived from them on request (:mod:`twilight_sim.statements`). Drivers are
anchored on each stock's market value at its anchor (the range's start, or its listing day)
and grow along the same :class:`Trend` its price reverts to, so P/E, P/B and P/S stay within
real A-share ranges over any span of years instead of drifting with unchecked growth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray as Array

from twilight_sim.calendar import open_days, shift_days
from twilight_sim.hashrng import HashRng
from twilight_sim.universe import Universe

SEASON = np.array([0.22, 0.25, 0.25, 0.28])
# Legal windows (month, day) of first and last announcement day, by quarter of the period.
WINDOWS = {
    1: ((4, 8), (4, 30)),
    2: ((7, 12), (8, 31)),
    3: ((10, 8), (10, 31)),
    4: ((1, 15), (4, 30)),
}
RESTATE_P = 0.04
GROWTH_YEARS = 4.0  # growth fades: a company grows at most ~(1 + g) ** 4 away from its anchor
EQUITY_FLOOR = 0.25  # share of the anchor's book value that losses never eat through


def period_end(year: int, quarter: int) -> int:
    return year * 10000 + (331, 630, 930, 1231)[quarter - 1]


def window_days(year: int, quarter: int) -> Array[np.int64]:
    """Trading days on which a report for (year, quarter) may be announced."""
    (m0, d0), (m1, d1) = WINDOWS[quarter]
    y = year + 1 if quarter == 4 else year
    return open_days(y * 10000 + m0 * 100 + d0, y * 10000 + m1 * 100 + d1)


def year_fraction(dates: Array[np.int64]) -> Array[np.float64]:
    """YYYYMMDD ints as fractional years (2024.5 is about July 1st, 2024)."""
    return dates // 10000 + (dates // 100 % 100 - 1) / 12.0 + (dates % 100 - 1) / 365.0


@dataclass(frozen=True)
class Trend:
    """Each stock's smooth size path on a log scale, zero at its anchor.

    Revenue and profits scale with ``exp(trend)`` and the price reverts towards
    ``init_price * exp(trend)``, so the multiples wander around their starting values (as real
    ones do) instead of growing apart; growth fades after a few years, as real growth does.
    """

    log_growth: Array[np.float64]  # log(1 + g) per year, per stock
    anchor: Array[np.float64]  # fractional year of the anchor, per stock

    def at(self, year: float | Array[np.float64]) -> Array[np.float64]:
        """Log size per stock at fractional ``year`` (a column of years gives one row each)."""
        return self.log_growth * GROWTH_YEARS * np.tanh((year - self.anchor) / GROWTH_YEARS)


@dataclass
class Fundamentals:
    """Quarterly drivers, shape (stocks, quarters); flows are single-quarter values in yuan."""

    years: Array[np.int64]  # fiscal year of each quarter column
    quarters: Array[np.int64]  # 1..4
    end_dates: Array[np.int64]
    revenue: Array[np.float64]
    n_income: Array[np.float64]
    minority_gain: Array[np.float64]
    equity: Array[np.float64]  # equity attributable to parent, period end
    minority: Array[np.float64]
    assets: Array[np.float64]
    cash: Array[np.float64]
    ocf: Array[np.float64]
    ann_date: Array[np.int64]  # original announcement, 0 when no report exists
    restate_date: Array[np.int64]  # 0 when never restated
    restate_k: Array[np.float64]
    comp_type: Array[np.int64]
    trend: Trend
    payout: Array[np.float64]  # (stocks, fiscal years from years[0]): share of profit paid
    shares: Array[np.float64]  # total shares, for per-share figures

    @property
    def np_attr(self) -> Array[np.float64]:
        return self.n_income - self.minority_gain

    def ytd(self, values: Array[np.float64]) -> Array[np.float64]:
        """Cumulative year-to-date sums of single-quarter flows."""
        out = values.copy()
        for q in range(1, values.shape[1]):
            cont = self.quarters[q] > 1
            if cont:
                out[:, q] += out[:, q - 1]
        return out

    def ttm(self, values: Array[np.float64]) -> Array[np.float64]:
        """Trailing four-quarter sums (NaN for the first three quarters)."""
        c = np.cumsum(values, axis=1)
        out = np.full(values.shape, np.nan)
        out[:, 3:] = c[:, 3:] - np.concatenate([np.zeros((values.shape[0], 1)), c[:, :-4]], 1)
        return out

    def annual_profit(self, year: int) -> Array[np.float64]:
        cols = np.flatnonzero(self.years == year)
        return (
            self.np_attr[:, cols].sum(axis=1)
            if cols.size == 4
            else np.full(self.revenue.shape[0], np.nan)
        )

    def dividend_per_share(self, year: int) -> Array[np.float64]:
        """Cash (yuan per share) paid out of fiscal ``year``'s profit, 0 if none."""
        k = year - int(self.years[0])
        if not 0 <= k < self.payout.shape[1]:
            return np.zeros(self.revenue.shape[0])
        profit = np.nan_to_num(self.annual_profit(year))
        return self.payout[:, k] * np.maximum(profit, 0.0) / self.shares


def build_fundamentals(
    rng: HashRng, u: Universe, first_year: int, last_period: int, start: int
) -> Fundamentals:
    """Drivers from ``first_year`` Q1 through the last quarter ending on or before the range;
    ``start`` is the range's first day (the anchor of stocks listed before it)."""
    periods = [
        (y, q)
        for y in range(first_year, last_period // 10000 + 1)
        for q in (1, 2, 3, 4)
        if period_end(y, q) <= last_period
    ]
    years = np.array([y for y, _ in periods])
    quarters = np.array([q for _, q in periods])
    n, nq = u.size, len(periods)
    s = np.arange(n)
    sq = (s[:, None], np.arange(nq)[None, :])
    sy = (s[:, None], years[None, :])

    mv0 = u.total_share * 1e4 * u.init_price / 100.0
    # Large caps are cheap and small caps dear, as in the A-share market (CSI 300 near 12x
    # earnings, the median stock near 30x): multiples fall with the log of relative size.
    size = np.clip(np.log(mv0 / np.median(mv0)), -4.0, 4.0)
    pe0 = np.exp(np.log(28.0) - 0.25 * size + 0.4 * rng.normal("pe0", s))
    margin = 0.03 + 0.22 * rng.uniform("margin", s)
    loser = (0.09 + 0.3 * u.is_st) * np.exp(-0.6 * np.maximum(size, 0.0))  # giants rarely lose
    margin = np.where(rng.uniform("loser", s) < loser, -0.05, margin)
    rev0 = np.clip(mv0 / pe0 / np.abs(margin), 2e7, 3e12)
    growth = np.clip(0.08 + 0.12 * rng.normal("growth", s), -0.3, 0.6)
    anchor = year_fraction(np.maximum(u.list_date, start))
    trend = Trend(np.log1p(growth), anchor)
    year_shock = 0.12 * rng.normal("yshock", *sy)
    mid_quarter = years + (quarters - 1) / 4.0 + 0.125
    level = np.exp(trend.at(mid_quarter[:, None]).T + year_shock)
    revenue = (
        rev0[:, None]
        * level
        * SEASON[quarters - 1][None, :]
        * np.exp(0.05 * rng.normal("qnoise", *sq))
    )
    year_margin = margin[:, None] + 0.04 * rng.normal("ymargin", *sy)
    n_income = revenue * year_margin + 0.01 * revenue * rng.normal("npnoise", *sq)
    minority_gain = n_income * (0.12 * rng.uniform("minority", s))[:, None]

    pb0 = np.exp(np.log(2.4) - 0.12 * size + 0.4 * rng.normal("pb0", s))
    base_eq = mv0 / pb0
    # Dividends out of each fiscal year's profit, paid the next summer by a company listed by
    # then: what the price book pays per share, and what leaves the book value in Q2.
    fiscal = np.arange(first_year, last_period // 10000 + 1)
    attr = n_income - minority_gain
    annual = np.stack([attr[:, years == y].sum(axis=1) for y in fiscal], axis=1)
    pays = (annual > 0) & (rng.uniform("pays", s[:, None], fiscal[None, :] + 1) < 0.7)
    pays &= u.list_date[:, None] < (fiscal[None, :] + 1) * 10000 + 101
    big = rng.uniform("bigdiv", s[:, None], fiscal[None, :] + 1) < 0.05
    share = rng.uniform("payout", s[:, None], fiscal[None, :] + 1)
    payout = np.where(pays, np.where(big, 0.6 + 0.3 * share, 0.15 + 0.4 * share), 0.0)
    paid = np.zeros((n, nq))
    for q in np.flatnonzero((quarters == 2) & (years > first_year)):
        k = int(years[q]) - first_year - 1
        paid[:, q] = payout[:, k] * np.maximum(annual[:, k], 0.0)
    retained = np.cumsum(attr - paid, axis=1)
    anchor_q = np.maximum(np.searchsorted(mid_quarter, anchor) - 1, 0)
    equity = np.maximum(
        base_eq[:, None] + retained - retained[s, anchor_q][:, None],
        EQUITY_FLOOR * base_eq[:, None],
    )
    minority = np.maximum(base_eq[:, None] * 0.05 + np.cumsum(minority_gain, axis=1), 0.0)
    debt = np.clip(0.15 + 0.6 * rng.uniform("debt", s), 0.1, 0.9)
    debt_q = np.clip(debt[:, None] + 0.02 * rng.normal("debtq", *sq), 0.05, 0.95)
    assets = (equity + minority) / (1.0 - debt_q)
    cash = assets * np.clip(
        (0.05 + 0.25 * rng.uniform("cashr", s))[:, None] + 0.02 * rng.normal("cashq", *sq),
        0.01,
        0.6,
    )
    ocf = n_income + 0.01 * assets + 0.08 * revenue * rng.normal("ocf", *sq)

    ann = _announcements(rng, u, years, quarters)
    restated = (rng.uniform("restate", *sq) < RESTATE_P) & (ann > 0) & np.isin(quarters, [2, 4])
    delay = (20 + rng.uniform("restd", *sq) * 200).astype(np.int64)
    restate_date = np.where(restated, shift_days(np.where(restated, ann, 20000101), delay), 0)
    gone = (u.exit_date[:, None] > 0) & (restate_date >= u.exit_date[:, None])
    restate_date = np.where(gone, 0, restate_date)
    restate_k = np.where(restate_date > 0, 0.92 + 0.16 * rng.uniform("restk", *sq), 1.0)
    comp_type = np.where(
        np.array(u.industry) == "银行", 2, np.where(np.array(u.industry) == "证券", 4, 1)
    )
    return Fundamentals(
        years,
        quarters,
        np.array([period_end(y, q) for y, q in periods]),
        revenue,
        n_income,
        minority_gain,
        equity,
        minority,
        assets,
        cash,
        ocf,
        ann,
        restate_date,
        restate_k,
        comp_type,
        trend,
        payout,
        u.total_share * 1e4,
    )


def _announcements(
    rng: HashRng, u: Universe, years: Array[np.int64], quarters: Array[np.int64]
) -> Array[np.int64]:
    """Original announcement day of each report, inside its legal window; 0 if none."""
    n, nq = u.size, years.size
    s = np.arange(n)
    ann = np.zeros((n, nq), dtype=np.int64)
    for q in range(nq):
        days = window_days(int(years[q]), int(quarters[q]))
        skew = 0.6 if quarters[q] == 4 else 1.0  # annual reports bunch up in late April
        pick = (rng.uniform("ann", s, q) ** skew * days.size).astype(np.int64)
        ann[:, q] = days[np.minimum(pick, days.size - 1)]
    # A Q1 report never precedes the same company's annual report for the year before.
    for q in range(4, nq):
        if quarters[q] == 1 and quarters[q - 1] == 4:
            ann[:, q] = np.maximum(ann[:, q], ann[:, q - 1])
    alive = (ann >= u.list_date[:, None]) & (
        (u.exit_date[:, None] == 0) | (ann < u.exit_date[:, None])
    )
    return np.where(alive, ann, 0)
