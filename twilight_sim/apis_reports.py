"""Handlers of the financial-report APIs, per stock and per period (``*_vip``).

The base APIs need ``ts_code`` (as Tushare's do); the ``*_vip`` variants answer a whole
``period`` for every stock. Announcement-date params filter on the version's own date, so a
restatement shows up under its later ``ann_date``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twilight_sim.apis_market import Handler, Page, page, stock_indices
from twilight_sim.clock import Visibility
from twilight_sim.params import Params
from twilight_sim.reports import ReportQuery

if TYPE_CHECKING:
    from twilight_sim.market_data import MarketData

REPORT_TYPES = tuple(str(i) for i in range(1, 13))


def _query(m: MarketData, p: Params, vis: Visibility, need_code: bool) -> ReportQuery:
    if need_code:
        p.require("ts_code")
    codes = p.codes()
    ann = p.date("ann_date") or p.date("f_ann_date")
    return ReportQuery(
        stocks=stock_indices(m, codes),
        period=p.date("period"),
        ann_date=ann,
        start=p.date("start_date"),
        end=p.date("end_date"),
        today=vis.today,
    )


def _statement(vip: bool) -> Handler:
    def handler(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
        frame = m.reports.statement(_query(m, p, vis, not vip), p.text("report_type", REPORT_TYPES))
        comp_type = p.text("comp_type", ("1", "2", "3", "4"))
        if comp_type is not None:
            frame = frame[frame["comp_type"] == comp_type]
        return page(frame, offset, limit)

    return handler


def _indicator(vip: bool) -> Handler:
    def handler(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
        return page(m.reports.indicators(_query(m, p, vis, not vip)), offset, limit)

    return handler


def forecast(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    frame = m.notices.forecast(_query(m, p, vis, False), p.text("type"))
    return page(frame, offset, limit)


def _express(vip: bool) -> Handler:
    def handler(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
        return page(m.notices.express(_query(m, p, vis, not vip)), offset, limit)

    return handler


def disclosure_date(m: MarketData, p: Params, vis: Visibility, offset: int, limit: int) -> Page:
    query = ReportQuery(
        stocks=stock_indices(m, p.codes()), period=p.date("end_date"), today=vis.today
    )
    frame = m.notices.disclosure(query, p.date("pre_date"), p.date("actual_date"))
    return page(frame, offset, limit)


REPORT_HANDLERS: dict[str, Handler] = {
    "income": _statement(False),
    "income_vip": _statement(True),
    "balancesheet": _statement(False),
    "balancesheet_vip": _statement(True),
    "cashflow": _statement(False),
    "cashflow_vip": _statement(True),
    "fina_indicator": _indicator(False),
    "fina_indicator_vip": _indicator(True),
    "forecast": forecast,
    "forecast_vip": forecast,
    "express": _express(False),
    "express_vip": _express(True),
    "disclosure_date": disclosure_date,
}
