"""Response bodies; every route declares one so the OpenAPI schema documents what it returns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field


def _yyyymmdd(value: object) -> object:
    return value.strftime("%Y%m%d") if isinstance(value, date) else value


# Every date in an answer is written as requests write it (Tushare's YYYYMMDD); instants
# (as_of, fetched_at, last_write, ...) are ISO 8601 timestamps.
TradeDate = Annotated[
    str,
    BeforeValidator(_yyyymmdd),
    Field(pattern=r"^\d{8}$", examples=["20241009"], description="YYYYMMDD"),
]


class Problem(BaseModel):
    """An error: what was wrong and what to do about it."""

    detail: str


PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "description": text}
    for code, text in {
        401: "no valid bearer token",
        404: "unknown security",
        422: "invalid parameter: the detail names it and says what to send",
        503: "no snapshot published yet, or no provider could answer",
    }.items()
}


class Health(BaseModel):
    status: str
    mode: str = Field(description="'tushare' with a token, else 'simulator' (warehouse only)")
    snapshot_generation: int | None
    snapshot_published_at: datetime | None
    snapshot_age_seconds: float | None
    unpublished_since: datetime | None = Field(
        description="set while committed writes wait for a snapshot: a writer left publishing to "
        "the one queued behind it (the next write, any asset check or `twilight publish` does it)"
    )
    market_phase: str


class WhoAmI(BaseModel):
    user: str
    token_id: int
    token_created_at: datetime


class Bar(BaseModel):
    ts_code: str
    trade_date: TradeDate
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    pre_close: float | None
    change: float | None
    pct_chg: float | None
    vol: float | None
    amount: float | None
    adj_factor: float | None = Field(None, description="only with adj=qfq or adj=hfq")


class DailyBasic(BaseModel):
    ts_code: str
    trade_date: TradeDate
    close: float | None
    turnover_rate: float | None
    turnover_rate_f: float | None
    volume_ratio: float | None
    pe: float | None
    pe_ttm: float | None
    pb: float | None
    ps: float | None
    ps_ttm: float | None
    dv_ratio: float | None
    dv_ttm: float | None
    total_share: float | None
    float_share: float | None
    free_share: float | None
    total_mv: float | None
    circ_mv: float | None


class Page(BaseModel):
    ts_code: str
    start_date: TradeDate
    end_date: TradeDate
    limit: int
    offset: int
    count: int = Field(description="rows in this page; a full page may have more after it")
    snapshot_generation: int
    note: str | None = Field(
        None,
        description="why a page is empty: outside the stored range, no trading day in it, not "
        "yet fetched, no row of this security in the fetched partitions, or past the last row",
    )


class BarsPage(Page):
    adj: str | None = None
    rows: list[Bar]


class DailyBasicPage(Page):
    rows: list[DailyBasic]


class PriceQuote(BaseModel):
    ts_code: str
    price: float
    trade_date: TradeDate
    source: str = Field(description="the provider that answered")
    as_of: datetime = Field(description="when the price was the market's price")
    fetched_at: datetime
    expires_at: datetime = Field(description="until when this answer may be served again")
    stale: bool = Field(description="a newer price exists (or the market is trading)")
    cached: bool
    market_phase: str
    note: str | None = Field(None, description="why a preferred source did not answer")


class TableFreshness(BaseModel):
    table: str
    partitioned: bool = Field(description="false: a small table refreshed whole (one write)")
    partitions: int = Field(description="partitions held; 1 for an unpartitioned table")
    last_partition: str | None
    last_write: datetime | None
    rows: int
    lag: int | None = Field(
        description="partitions due by the last closed session but not yet written"
    )
    lag_unit: str | None = Field(description="trading_days, weeks or months")
    sessions_behind: int | None = Field(
        description="trading sessions closed after the last partition (after the last write "
        "for an unpartitioned table); a monthly table is 0 months but some sessions behind "
        "while the month runs"
    )


class Freshness(BaseModel):
    last_closed_session: TradeDate | None
    snapshot_generation: int
    tables: list[TableFreshness]


class CheckResult(BaseModel):
    asset: str
    check: str
    passed: bool | None
    severity: str | None
    run_id: str | None
    evaluated_at: datetime | None


class Checks(BaseModel):
    available: bool
    note: str | None = None
    checks: list[CheckResult]


class AuditCall(BaseModel):
    called_at: datetime
    api_name: str
    params: dict[str, Any]
    rows: int
    pages: int
    attempts: int
    latency_ms: float
    outcome: str
    error: str | None
    refusals: int = Field(0, description="rate refusals on the way, each retried after a pause")
    paused_ms: float = Field(0.0, description="time spent waiting out the token's pauses")


class SpendWindow(BaseModel):
    window: str
    calls: int
    requests: int = Field(description="HTTP requests, what the token's budget is charged")
    rows: int
    failures: int
    refusals: int = Field(description="rate refusals (the token paused after each)")
    paused_s: float


class ApiSpendDay(BaseModel):
    """One API over the last day: what it cost and how often the upstream refused it."""

    api_name: str
    calls: int
    requests: int
    rows: int
    failures: int
    refusals: int
    paused_s: float


class Audit(BaseModel):
    spend: list[SpendWindow]
    apis: list[ApiSpendDay] = Field(description="per API over the last day, most refused first")
    calls: list[AuditCall]


class Diff(BaseModel):
    """One field of one stock's bar on one day, as the warehouse and AKShare hold it."""

    trade_date: TradeDate
    ts_code: str
    field: str = Field(description="close, vol (lots) or amount (thousand CNY)")
    warehouse_value: float | None
    akshare_value: float | None = Field(description="converted to Tushare's units")
    rel_diff: float | None = Field(description="|akshare - warehouse| / |warehouse|")
    severity: str = Field(description="critical, warning, missing or resolved")
    checked_at: datetime
    source: str | None = Field(description="the compared source")


class Diffs(BaseModel):
    available: bool
    note: str | None = None
    diffs: list[Diff]


class Statements(BaseModel):
    ts_code: str
    period: TradeDate | None = Field(None, description="the report period asked for")
    as_of: TradeDate | None = Field(None, description="the day the answer is as known on")
    statements: dict[str, list[dict[str, Any]]] = Field(
        description="per table (income, balancesheet, cashflow, fina_indicator), the rows of "
        "the period as known on as_of, one per report type; dates as YYYYMMDD"
    )
