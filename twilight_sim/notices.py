"""Announcements around the reports: forecasts, express reports and the disclosure calendar.

Forecasts (mandatory for big swings or losses, voluntary otherwise) and express reports always
come out before the report they anticipate, and agree with it: the forecast range brackets the
final profit, the express report repeats the final figures. The disclosure calendar holds the
planned date (``pre_date``) and, once it has passed, the actual one.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pandas as pd

from twilight_sim.calendar import open_days, shift_days
from twilight_sim.fundamentals import Fundamentals, window_days
from twilight_sim.hashrng import HashRng
from twilight_sim.reports import ReportQuery
from twilight_sim.statements import ReportRows, Statements

IntArray = npt.NDArray[np.int64]
Array = npt.NDArray[np.float64]


def _dates(values: IntArray) -> npt.NDArray[np.object_]:
    # numpy's stubs take no None branch in where(); numpy makes an object array of it.
    dates: npt.NDArray[np.object_]
    dates = np.where(values > 0, values.astype(str), None)  # type: ignore[call-overload]
    return dates.astype(object)


class Notices:
    def __init__(
        self, rng: HashRng, codes: list[str], fund: Fundamentals, statements: Statements
    ) -> None:
        self.rng, self.f, self.st = rng, fund, statements
        self.codes = np.asarray(codes, dtype=object)
        self._tables: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()

    def _table(self, name: str) -> pd.DataFrame:
        with self._lock:
            if name not in self._tables:
                self._tables[name] = getattr(self, f"_build_{name}")()
            return self._tables[name]

    def _notice_day(self, stream: str, s: IntArray, c: IntArray, first: str, last: str) -> IntArray:
        """A trading day in the notice window (MMDD bounds) strictly before the report; or 0."""
        out = np.zeros(s.size, dtype=np.int64)
        for col in np.unique(c):
            hit = c == col
            year = int(self.f.years[col]) + (1 if self.f.quarters[col] == 4 else 0)
            days = open_days(int(f"{year}{first}"), int(f"{year}{last}"))
            before = np.searchsorted(days, self.f.ann_date[s[hit], col], "left")
            pick = (self.rng.uniform(stream, s[hit], col) * before).astype(np.int64)
            out[hit] = np.where(before > 0, days[np.minimum(pick, np.maximum(before - 1, 0))], 0)
        return out

    def _profits(self, s: IntArray, c: IntArray) -> tuple[Array, Array]:
        ytd = self.st.ytd["n_income"] - self.st.ytd["minority_gain"]
        prev = c - 4
        return ytd[s, c], np.where(prev >= 0, ytd[s, np.maximum(prev, 0)], np.nan)

    def _build_forecast(self) -> pd.DataFrame:
        f = self.f
        s, c = np.nonzero((f.ann_date > 0) & np.isin(f.quarters, [2, 4])[None, :])
        now, before = self._profits(s, c)
        swing = (now < 0) | (before < 0) | (np.abs(now - before) > 0.5 * np.abs(before))
        annual = f.quarters[c] == 4
        u = self.rng.uniform("forecast", s, c)
        keep = np.isfinite(before) & np.where(annual, swing | (u < 0.25), u < 0.15)
        s, c, now, before, annual = s[keep], c[keep], now[keep], before[keep], annual[keep]
        ann = np.where(
            annual,
            self._notice_day("fc_a", s, c, "0110", "0131"),
            self._notice_day("fc_h", s, c, "0701", "0714"),
        )
        keep = ann > 0
        s, c, now, before, ann = s[keep], c[keep], now[keep], before[keep], ann[keep]
        spread = np.abs(now) * (0.05 + 0.15 * self.rng.uniform("fc_spread", s, c))
        lo, hi = now - spread, now + spread
        kind = np.select(
            [
                (before > 0) & (now <= 0),
                (before <= 0) & (now > 0),
                (before <= 0),
                now >= 1.5 * before,
                now >= before,
                now >= 0.5 * before,
            ],
            ["首亏", "扭亏", "续亏", "预增", "略增", "略减"],
            "预减",
        )
        ends = f.end_dates[c]
        summary = [
            f"预计{e // 10000}年{'1-6月' if e % 10000 == 630 else '年度'}归属于上市公司"
            f"股东的净利润{a / 1e4:.2f}万元至{b / 1e4:.2f}万元"
            for e, a, b in zip(ends, lo, hi, strict=True)
        ]
        return pd.DataFrame(
            {
                "_s": s,
                "_ann": ann,
                "_end": ends,
                "type": kind.astype(object),
                "p_change_min": np.round((lo - before) / np.abs(before) * 100, 4),
                "p_change_max": np.round((hi - before) / np.abs(before) * 100, 4),
                "net_profit_min": np.round(lo / 1e4, 2),
                "net_profit_max": np.round(hi / 1e4, 2),
                "last_parent_net": np.round(before / 1e4, 2),
                "summary": summary,
                "change_reason": np.where(
                    now > before, "主营业务增长，毛利率提升。", "市场需求下降，成本上升。"
                ).astype(object),
            }
        )

    def _build_express(self) -> pd.DataFrame:
        f = self.f
        s, c = np.nonzero((f.ann_date > 0) & (f.quarters == 4)[None, :])
        keep = (c >= 4) & (self.rng.uniform("express", s, c) < 0.3)
        s, c = s[keep], c[keep]
        ann = self._notice_day("ex_day", s, c, "0110", "0228")
        s, c, ann = s[ann > 0], c[ann > 0], ann[ann > 0]
        cur = self.st.ledger(ReportRows(s, c, np.zeros_like(s)))
        old = self.st.ledger(ReportRows(s, c - 4, np.zeros_like(s)))
        shares = cur["total_share"]
        eq, eq0 = cur["total_hldr_eqy_exc_min_int"], old["total_hldr_eqy_exc_min_int"]
        roe, roe0 = cur["n_income_attr_p"] / eq * 100, old["n_income_attr_p"] / eq0 * 100

        def growth(a: Array, b: Array) -> Array:
            """Year-on-year %, null when last year's figure is zero (an EPS under half a fen)."""
            ok = b != 0
            return np.where(ok, np.round((a - b) / np.abs(np.where(ok, b, 1)) * 100, 4), np.nan)

        return pd.DataFrame(
            {
                "_s": s,
                "_ann": ann,
                "_end": f.end_dates[c],
                "revenue": cur["revenue"],
                "operate_profit": cur["operate_profit"],
                "total_profit": cur["total_profit"],
                "n_income": cur["n_income"],
                "total_assets": cur["total_assets"],
                "total_hldr_eqy_exc_min_int": eq,
                "diluted_eps": cur["diluted_eps"],
                "diluted_roe": np.round(roe, 4),
                "yoy_net_profit": old["n_income_attr_p"],
                "bps": np.round(eq / shares, 4),
                "yoy_sales": growth(cur["revenue"], old["revenue"]),
                "yoy_op": growth(cur["operate_profit"], old["operate_profit"]),
                "yoy_tp": growth(cur["total_profit"], old["total_profit"]),
                "yoy_dedu_np": growth(cur["n_income_attr_p"], old["n_income_attr_p"]),
                "yoy_eps": growth(cur["basic_eps"], old["basic_eps"]),
                "yoy_roe": np.round(roe - roe0, 4),
                "growth_assets": growth(cur["total_assets"], old["total_assets"]),
                "yoy_equity": growth(eq, eq0),
                "growth_bps": growth(eq / shares, eq0 / shares),
                "or_last_year": old["revenue"],
                "op_last_year": old["operate_profit"],
                "tp_last_year": old["total_profit"],
                "np_last_year": old["n_income_attr_p"],
                "eps_last_year": old["basic_eps"],
                "open_net_assets": eq0,
                "open_bps": np.round(eq0 / shares, 4),
                "perf_summary": [
                    f"{e // 10000}年度实现营业收入{r / 1e8:.2f}亿元"
                    for e, r in zip(f.end_dates[c], cur["revenue"], strict=True)
                ],
                "is_audit": np.zeros(s.size, dtype=np.int64),
                "remark": None,
            }
        )

    def _build_disclosure(self) -> pd.DataFrame:
        f = self.f
        s, c = np.nonzero(f.ann_date > 0)
        actual = f.ann_date[s, c]
        ends = f.end_dates[c]
        sched = shift_days(ends, (-15 + self.rng.uniform("sched", s, c) * 25).astype(np.int64))
        other = np.zeros(s.size, dtype=np.int64)
        for col in np.unique(c):
            hit = c == col
            days = window_days(int(f.years[col]), int(f.quarters[col]))
            pick = (self.rng.uniform("plan", s[hit], col) * days.size).astype(np.int64)
            other[hit] = days[np.minimum(pick, days.size - 1)]
        u = self.rng.uniform("plankind", s, c)
        moved = (u >= 0.75) & (u < 0.9) & (other != actual)
        modified = (u >= 0.9) & (other != actual)
        return pd.DataFrame(
            {
                "_s": s,
                "_ann": np.minimum(sched, actual),
                "_end": ends,
                "_pre": np.where(moved, other, actual),
                "_actual": actual,
                "_modify": np.where(modified, other, 0),
            }
        )

    @staticmethod
    def _match(table: pd.DataFrame, q: ReportQuery) -> pd.DataFrame:
        ok = table["_ann"].to_numpy() <= q.today
        if q.stocks is not None:
            ok &= np.isin(table["_s"].to_numpy(), q.stocks)
        if q.period is not None:
            ok &= table["_end"].to_numpy() == q.period
        ann = table["_ann"].to_numpy()
        if q.ann_date is not None:
            ok &= ann == q.ann_date
        if q.start is not None:
            ok &= ann >= q.start
        if q.end is not None:
            ok &= ann <= q.end
        return table[ok]

    def _head(self, t: pd.DataFrame) -> dict[str, object]:
        return {
            "ts_code": self.codes[t["_s"].to_numpy()],
            "ann_date": _dates(t["_ann"].to_numpy()),
            "end_date": _dates(t["_end"].to_numpy()),
        }

    def _frame(self, t: pd.DataFrame) -> pd.DataFrame:
        t = t.sort_values(["_end", "_ann", "_s"], ascending=[False, False, True])
        head = pd.DataFrame(self._head(t))
        body = t.drop(columns=["_s", "_ann", "_end"]).reset_index(drop=True)
        return pd.concat([head, body], axis=1)

    def forecast(self, q: ReportQuery, kind: str | None = None) -> pd.DataFrame:
        t = self._match(self._table("forecast"), q)
        if kind is not None:
            t = t[t["type"] == kind]
        out = self._frame(t)
        out["first_ann_date"] = out["ann_date"]
        return out

    def express(self, q: ReportQuery) -> pd.DataFrame:
        return self._frame(self._match(self._table("express"), q))

    def disclosure(
        self, q: ReportQuery, pre_date: int | None, actual_date: int | None
    ) -> pd.DataFrame:
        t = self._match(self._table("disclosure"), q)
        actual = t["_actual"].to_numpy()
        shown = np.where(actual <= q.today, actual, 0)
        ok = np.ones(len(t), dtype=bool)
        if pre_date is not None:
            ok &= t["_pre"].to_numpy() == pre_date
        if actual_date is not None:
            ok &= shown == actual_date
        t, shown = t[ok], shown[ok]
        order = np.lexsort((t["_s"].to_numpy(), t["_pre"].to_numpy(), -t["_end"].to_numpy()))
        t, shown = t.iloc[order], shown[order]
        return pd.DataFrame(
            {
                **self._head(t),
                "pre_date": _dates(t["_pre"].to_numpy()),
                "actual_date": _dates(shown),
                "modify_date": _dates(t["_modify"].to_numpy()),
            }
        )
