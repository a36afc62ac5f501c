"""The warehouse-backed Tushare APIs the MCP server offers, declared once as data.

Each entry says what differs between the eighteen tools: the partition grain the warehouse
stores the API by (which decides coverage), the Tushare parameters the tool accepts and the
column each one filters. The tool functions, their input schemas, the SQL and the coverage check
are all derived from these entries (``tools.py``), so an API is one entry, not one function.
"""

from dataclasses import dataclass, field
from enum import StrEnum

from twilight_resources.warehouse import table_spec
from twilight_serve.validation import DATE_PATTERN, TS_CODE_PATTERN

# Tushare accepts several codes separated by commas in ts_code.
CODES_PATTERN = TS_CODE_PATTERN.removesuffix("$") + r"(,\d{6}\.(SH|SZ|BJ))*$"


class Grain(StrEnum):
    """How the warehouse partitions an API, hence which partitions a request needs."""

    WHOLE = "whole"  # unpartitioned reference table, refreshed whole
    TRADE_DATE = "trade_date"  # one partition per open day
    WEEK_END = "week_end"  # last open day of each week
    MONTH_END = "month_end"  # last open day of each month
    MONTH = "month"  # index_weight: the month-end partition holds the whole month's dates
    PERIOD = "period"  # report period (quarter end)


class Kind(StrEnum):
    """What a parameter means to the warehouse query."""

    EQUALS = "equals"  # column = value (comma lists: column IN values)
    DAY = "day"  # the one trade date / calendar date asked for
    START = "start"  # first day of the range
    END = "end"  # last day of the range
    PERIOD = "period"  # report period (quarter end)


@dataclass(frozen=True)
class Param:
    """One Tushare input parameter of a tool."""

    name: str
    kind: Kind
    description: str
    column: str | None = None  # the column it filters (default: the table's date/own column)
    pattern: str | None = None
    required: bool = False


@dataclass(frozen=True)
class TableTool:
    """One warehouse-backed API: its grain, parameters and the date column ranges filter."""

    api: str
    grain: Grain
    summary: str
    params: tuple[Param, ...]
    date_column: str | None = None
    # Parameter whose value must be one of TWILIGHT_INDEX_CODES for a hit (tracked indices).
    tracked_param: str | None = None
    # Live API to ask when the request has no ts_code (Tushare's per-period ``*_vip``).
    whole_market_api: str | None = None
    # Values Tushare assumes when a parameter is left out (trade_cal answers SSE by default).
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return f"normalized_{self.api}"

    @property
    def columns(self) -> tuple[str, ...]:
        """Tushare's output fields, as the DDL declares them (lineage columns left out)."""
        return table_spec(self.table).data_columns

    @property
    def date_columns(self) -> tuple[str, ...]:
        return table_spec(self.table).date_columns

    @property
    def order_by(self) -> tuple[str, ...]:
        return table_spec(self.table).primary_key

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


def _code(column: str = "ts_code", required: bool = False, what: str = "stock") -> Param:
    return Param(
        column,
        Kind.EQUALS,
        f"{what} code(s), e.g. 600000.SH; several separated by commas",
        pattern=CODES_PATTERN,
        required=required,
    )


def _text(name: str, description: str) -> Param:
    return Param(name, Kind.EQUALS, description)


TRADE_DATE = Param("trade_date", Kind.DAY, "one trading day, YYYYMMDD", pattern=DATE_PATTERN)
START = Param("start_date", Kind.START, "first day, YYYYMMDD (inclusive)", pattern=DATE_PATTERN)
END = Param(
    "end_date", Kind.END, "last day, YYYYMMDD (inclusive; default today)", pattern=DATE_PATTERN
)
ANN_DATE = Param(
    "ann_date", Kind.EQUALS, "announcement date, YYYYMMDD", column="ann_date", pattern=DATE_PATTERN
)
ANN_START = Param(
    "start_date", Kind.START, "first announcement date, YYYYMMDD", pattern=DATE_PATTERN
)
ANN_END = Param("end_date", Kind.END, "last announcement date, YYYYMMDD", pattern=DATE_PATTERN)
PERIOD = Param(
    "period",
    Kind.PERIOD,
    "report period (quarter end), YYYYMMDD, e.g. 20231231; answered "
    "from the warehouse only when given",
    column="end_date",
    pattern=DATE_PATTERN,
)

BARS = (_code(), TRADE_DATE, START, END)
STATEMENT = (_code(), ANN_DATE, ANN_START, ANN_END, PERIOD)
REPORT_TYPE = _text("report_type", "report type 1..12 (1: consolidated)")
COMP_TYPE = _text("comp_type", "company type 1 general, 2 bank, 3 insurance, 4 securities")


def _bars(api: str, grain: Grain, summary: str, params: tuple[Param, ...] = BARS) -> TableTool:
    return TableTool(api, grain, summary, params, date_column="trade_date")


def _statement(api: str, summary: str, *extra: Param) -> TableTool:
    return TableTool(
        api,
        Grain.PERIOD,
        summary,
        STATEMENT + extra,
        date_column="ann_date",
        whole_market_api=f"{api}_vip",
    )


TABLE_TOOLS: tuple[TableTool, ...] = (
    TableTool(
        "stock_basic",
        Grain.WHOLE,
        "Every A-share stock (listed, delisted, paused).",
        (
            _code(),
            _text("name", "short name"),
            _text("exchange", "SSE, SZSE or BSE"),
            _text("market", "board, e.g. 主板"),
            _text("list_status", "L listed (default), D delisted, P paused"),
            _text("is_hs", "Stock Connect flag N/H/S"),
        ),
        defaults={"list_status": "L"},  # as Tushare: listed stocks unless asked otherwise
    ),
    TableTool(
        "trade_cal",
        Grain.WHOLE,
        "Exchange trading calendar: one row per exchange and day.",
        (
            _text("exchange", "SSE (default) or SZSE"),
            Param("start_date", Kind.START, "first day, YYYYMMDD", pattern=DATE_PATTERN),
            Param("end_date", Kind.END, "last day, YYYYMMDD", pattern=DATE_PATTERN),
            _text("is_open", "1 open days only, 0 closed days only"),
        ),
        date_column="cal_date",
        defaults={"exchange": "SSE"},
    ),
    TableTool(
        "index_basic",
        Grain.WHOLE,
        "Index definitions.",
        (
            _code(what="index"),
            _text("name", "index short name"),
            _text("market", "e.g. SSE, CSI"),
            _text("publisher", "publisher"),
            _text("category", "index category"),
        ),
    ),
    _bars("daily", Grain.TRADE_DATE, "Unadjusted daily bars of stocks."),
    _bars("weekly", Grain.WEEK_END, "Weekly bars, dated the week's last trading day."),
    _bars("monthly", Grain.MONTH_END, "Monthly bars, dated the month's last trading day."),
    _bars("adj_factor", Grain.TRADE_DATE, "Adjustment factors per stock and trading day."),
    _bars("daily_basic", Grain.TRADE_DATE, "Daily valuation and turnover indicators."),
    TableTool(
        "index_daily",
        Grain.TRADE_DATE,
        "Index daily bars (ts_code required, as in Tushare).",
        (_code(required=True, what="index"), TRADE_DATE, START, END),
        date_column="trade_date",
        tracked_param="ts_code",
    ),
    _bars(
        "index_dailybasic",
        Grain.TRADE_DATE,
        "Index valuation per trading day.",
        (_code(what="index"), TRADE_DATE, START, END),
    ),
    TableTool(
        "index_weight",
        Grain.MONTH,
        "Index constituent weights (index_code required).",
        (_code("index_code", required=True, what="index"), TRADE_DATE, START, END),
        date_column="trade_date",
        tracked_param="index_code",
    ),
    _statement("income", "Income statements, one row per report version.", REPORT_TYPE, COMP_TYPE),
    _statement(
        "balancesheet", "Balance sheets, one row per report version.", REPORT_TYPE, COMP_TYPE
    ),
    _statement(
        "cashflow", "Cash-flow statements, one row per report version.", REPORT_TYPE, COMP_TYPE
    ),
    _statement("fina_indicator", "Financial indicators per stock and period."),
    _statement("forecast", "Earnings forecasts (业绩预告).", _text("type", "forecast type")),
    _statement("express", "Earnings express reports (业绩快报)."),
    TableTool(
        "disclosure_date",
        Grain.PERIOD,
        "Planned and actual report disclosure dates.",
        (
            _code(),
            Param(
                "end_date",
                Kind.PERIOD,
                "report period (quarter end), YYYYMMDD; answered from "
                "the warehouse only when given",
                column="end_date",
                pattern=DATE_PATTERN,
            ),
            Param(
                "pre_date", Kind.EQUALS, "planned disclosure date, YYYYMMDD", pattern=DATE_PATTERN
            ),
            Param(
                "actual_date", Kind.EQUALS, "actual disclosure date, YYYYMMDD", pattern=DATE_PATTERN
            ),
        ),
    ),
)

TOOLS_BY_API: dict[str, TableTool] = {t.api: t for t in TABLE_TOOLS}
