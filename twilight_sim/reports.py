"""Statements and indicators as report rows: (stock, period, version) once announced.

Everything is filtered by announcement date against the simulated clock, so advancing the
clock through April reveals the annual reports (and later their restatements) as they come out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from twilight_sim.fundamentals import Fundamentals
from twilight_sim.indicators import Indicators
from twilight_sim.statements import ReportRows, Statements

IntArray = npt.NDArray[np.int64]


@dataclass
class ReportQuery:
    stocks: IntArray | None = None
    period: int | None = None
    ann_date: int | None = None
    start: int | None = None  # announcement date range
    end: int | None = None
    today: int = 99991231


def _filter_ann(ann: IntArray, q: ReportQuery) -> npt.NDArray[np.bool_]:
    ok = (ann > 0) & (ann <= q.today)
    if q.ann_date is not None:
        ok &= ann == q.ann_date
    if q.start is not None:
        ok &= ann >= q.start
    if q.end is not None:
        ok &= ann <= q.end
    return ok


class Reports:
    def __init__(self, codes: list[str], fund: Fundamentals, statements: Statements) -> None:
        self.f, self.st = fund, statements
        self.codes = np.asarray(codes, dtype=object)
        self.ind = Indicators(statements)

    def _grid(self, q: ReportQuery) -> tuple[IntArray, IntArray]:
        n, nq = self.f.ann_date.shape
        stocks = np.arange(n) if q.stocks is None else q.stocks
        cols = np.arange(nq) if q.period is None else np.flatnonzero(self.f.end_dates == q.period)
        return stocks, cols

    def rows(self, q: ReportQuery) -> tuple[ReportRows, IntArray]:
        """Report versions matching the query, newest period then newest announcement first."""
        stocks, cols = self._grid(q)
        parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
        for version, source in ((0, self.f.ann_date), (1, self.f.restate_date)):
            ann = source[np.ix_(stocks, cols)]
            i, j = np.nonzero(_filter_ann(ann, q))
            parts.append((stocks[i], cols[j], np.full(i.size, version), ann[i, j]))
        s, c, v, ann = (np.concatenate(x) for x in zip(*parts, strict=True))
        order = np.lexsort((s, -ann, -c))
        return ReportRows(s[order], c[order], v[order]), ann[order]

    def _head(self, rows: ReportRows, ann: IntArray, report_type: str | None) -> dict[str, object]:
        f = self.f
        head: dict[str, object] = {
            "ts_code": self.codes[rows.s],
            "ann_date": ann.astype(str).astype(object),
            "f_ann_date": ann.astype(str).astype(object),
            "end_date": f.end_dates[rows.q].astype(str).astype(object),
            "comp_type": f.comp_type[rows.s].astype(str).astype(object),
            "end_type": f.quarters[rows.q].astype(str).astype(object),
            "update_flag": rows.version.astype(str).astype(object),
        }
        if report_type is not None:
            head["report_type"] = report_type
        return head

    def statement(self, q: ReportQuery, report_type: str | None) -> pd.DataFrame:
        """Rows for income/balancesheet/cashflow; report_type 2 gives single-quarter flows."""
        rows, ann = self.rows(q)
        rtype = report_type or "1"
        if rtype not in ("1", "2"):
            rows, ann = ReportRows(rows.s[:0], rows.q[:0], rows.version[:0]), ann[:0]
        led = self.st.ledger(rows, single_quarter=rtype == "2")
        return pd.DataFrame({**self._head(rows, ann, rtype), **led})

    def indicators(self, q: ReportQuery) -> pd.DataFrame:
        rows, ann = self.rows(q)
        head = self._head(rows, ann, None)
        return pd.DataFrame({**head, **self.ind.compute(rows)})
