"""Bars and valuations straight from the warehouse snapshot, one security per request.

Table and column names come from the constants below, never from the request; every value the
caller sends is a bound parameter.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Response

from twilight_resources.providers import UnknownSecurityError
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.deps import ReaderDep, require_bearer
from twilight_serve.models import PROBLEMS, BarsPage, DailyBasic, DailyBasicPage
from twilight_serve.validation import DateRange, DateRangeDep, Limit, Offset, TsCode

router = APIRouter(
    prefix="/warehouse",
    tags=["warehouse"],
    dependencies=[Depends(require_bearer)],
    responses=PROBLEMS,
)

BAR_COLUMNS = [
    "ts_code", "trade_date", "open", "high", "low", "close", "pre_close", "change", "pct_chg",
    "vol", "amount",
]  # fmt: skip
BASIC_COLUMNS = list(DailyBasic.model_fields)
STOCKS_SQL = "SELECT 1 FROM normalized_stock_basic WHERE ts_code = ? LIMIT 1"
INDICES_SQL = "SELECT 1 FROM normalized_index_basic WHERE ts_code = ? LIMIT 1"
JSON = "application/json"
# What these routes read (the adjusted views join adj_factor), hottest first: the read API
# warms a new snapshot with them before serving it.
SERVED_TABLES = (
    "normalized_daily", "normalized_adj_factor", "normalized_daily_basic",
    "normalized_index_daily", "normalized_weekly", "normalized_monthly",
)  # fmt: skip


class Adjustment(StrEnum):
    qfq = "qfq"
    hfq = "hfq"


def _rows_sql(relation: str, columns: list[str]) -> str:
    """One page of one security's rows, oldest first, dates already rendered as ISO text."""
    rendered = ", ".join(
        "strftime(trade_date, '%Y-%m-%d') AS trade_date" if c == "trade_date" else c
        for c in columns
    )
    return (
        f"SELECT {rendered} FROM {relation} WHERE ts_code = ? "
        "AND trade_date BETWEEN ? AND ? ORDER BY trade_date LIMIT ? OFFSET ?"
    )


def _page(
    reader: WarehouseReader,
    relation: str,
    columns: list[str],
    ts_code: str,
    dates: DateRange,
    limit: int,
    offset: int,
    known_sql: str,
    **extra: object,
) -> Response:
    """One security's rows in a date range, oldest first; 404 if the security is unknown.

    The body matches the route's response model but is rendered by orjson from the fetched
    rows rather than row by row through pydantic (a one-year page: ~3.5 ms -> ~1.7 ms with the
    query), and floats in their shortest form (17.99, not pandas' 17.989999999999998).
    """
    generation = reader.snapshot_info().generation
    rows = reader.records(
        _rows_sql(relation, columns), [ts_code, dates.start, dates.end, limit, offset]
    )
    if not rows and reader.query(known_sql, [ts_code]).empty:
        raise UnknownSecurityError(ts_code)
    body = {
        "ts_code": ts_code,
        "start_date": dates.start,
        "end_date": dates.end,
        "limit": limit,
        "offset": offset,
        "count": len(rows),
        "snapshot_generation": generation,
        **extra,
        "rows": rows,
    }
    return Response(orjson.dumps(body), media_type=JSON)


def _bars(
    reader: WarehouseReader,
    relation: str,
    ts_code: str,
    dates: DateRange,
    limit: int,
    offset: int,
    known_sql: str = STOCKS_SQL,
    adj: Adjustment | None = None,
) -> Response:
    columns = BAR_COLUMNS + (["adj_factor"] if adj else [])
    extra = {"adj": adj.value if adj else None}
    return _page(reader, relation, columns, ts_code, dates, limit, offset, known_sql, **extra)


@router.get("/daily", response_model=BarsPage)
def daily(
    reader: ReaderDep,
    ts_code: TsCode,
    dates: DateRangeDep,
    adj: Annotated[
        Adjustment | None,
        Query(description="qfq: forward-adjusted, hfq: back-adjusted, omitted: unadjusted"),
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Response:
    """Daily bars of one stock, unadjusted or adjusted (Tushare's qfq/hfq definitions)."""
    relation = {None: "normalized_daily", Adjustment.qfq: "daily_qfq", Adjustment.hfq: "daily_hfq"}
    return _bars(reader, relation[adj], ts_code, dates, limit, offset, adj=adj)


@router.get("/weekly", response_model=BarsPage)
def weekly(
    reader: ReaderDep, ts_code: TsCode, dates: DateRangeDep, limit: Limit = 1000, offset: Offset = 0
) -> Response:
    """Weekly bars of one stock (trade_date is the week's last trading day)."""
    return _bars(reader, "normalized_weekly", ts_code, dates, limit, offset)


@router.get("/monthly", response_model=BarsPage)
def monthly(
    reader: ReaderDep, ts_code: TsCode, dates: DateRangeDep, limit: Limit = 1000, offset: Offset = 0
) -> Response:
    """Monthly bars of one stock (trade_date is the month's last trading day)."""
    return _bars(reader, "normalized_monthly", ts_code, dates, limit, offset)


@router.get("/index_daily", response_model=BarsPage)
def index_daily(
    reader: ReaderDep, ts_code: TsCode, dates: DateRangeDep, limit: Limit = 1000, offset: Offset = 0
) -> Response:
    """Daily bars of one index (e.g. 000300.SH)."""
    return _bars(reader, "normalized_index_daily", ts_code, dates, limit, offset, INDICES_SQL)


@router.get("/daily_basic", response_model=DailyBasicPage)
def daily_basic(
    reader: ReaderDep, ts_code: TsCode, dates: DateRangeDep, limit: Limit = 1000, offset: Offset = 0
) -> Response:
    """Daily valuation and share-count indicators of one stock."""
    return _page(
        reader, "normalized_daily_basic", BASIC_COLUMNS, ts_code, dates, limit, offset, STOCKS_SQL
    )
