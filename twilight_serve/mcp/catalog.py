"""The warehouse-backed Tushare APIs the MCP server offers: one tool per catalog table.

The table catalog (``twilight_resources.catalog``) says which tables have a tool and the grain
the warehouse stores each by (which decides coverage). What is MCP's own, the Tushare
parameters a tool accepts and the column each one filters, is a shape per API below; a table
without one gets its grain's default shape. The tool functions, their input schemas, the SQL
and the coverage check are all derived from these (``tools.py``), so an API is data, not a
function.
"""

from dataclasses import dataclass, field, fields
from enum import StrEnum

from twilight_resources.catalog import CATALOG, Catalog, Grain, Table
from twilight_resources.warehouse import table_spec
from twilight_serve.validation import DATE_PATTERN, TS_CODE_PATTERN

# Tushare accepts several codes separated by commas in ts_code.
CODES_PATTERN = TS_CODE_PATTERN.removesuffix("$") + r"(,\d{6}\.(SH|SZ|BJ))*$"


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
class Shape:
    """What a tool takes: its parameters and the date column ranges filter."""

    summary: str
    params: tuple[Param, ...]
    date_column: str | None = None
    # Parameter whose value must be one of TWILIGHT_INDEX_CODES for a hit (tracked indices).
    tracked_param: str | None = None
    # Live API to ask when the request has no ts_code (Tushare's per-period ``*_vip``).
    whole_market_api: str | None = None
    # Values Tushare assumes when a parameter is left out (trade_cal answers SSE by default).
    defaults: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableTool(Shape):
    """One warehouse-backed API: its catalog entry and its shape."""

    entry: Table = field(kw_only=True)

    @property
    def api(self) -> str:
        return self.entry.api

    @property
    def grain(self) -> Grain:
        return self.entry.grain

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


def _bars(summary: str, params: tuple[Param, ...] = BARS) -> Shape:
    return Shape(summary, params, date_column="trade_date")


def _statement(api: str, summary: str, *extra: Param) -> Shape:
    return Shape(summary, STATEMENT + extra, date_column="ann_date", whole_market_api=f"{api}_vip")


SHAPES: dict[str, Shape] = {
    "stock_basic": Shape(
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
    "trade_cal": Shape(
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
    "index_basic": Shape(
        "Index definitions.",
        (
            _code(what="index"),
            _text("name", "index short name"),
            _text("market", "e.g. SSE, CSI"),
            _text("publisher", "publisher"),
            _text("category", "index category"),
        ),
    ),
    "daily": _bars("Unadjusted daily bars of stocks."),
    "weekly": _bars("Weekly bars, dated the week's last trading day."),
    "monthly": _bars("Monthly bars, dated the month's last trading day."),
    "adj_factor": _bars("Adjustment factors per stock and trading day."),
    "daily_basic": _bars("Daily valuation and turnover indicators."),
    "index_daily": Shape(
        "Index daily bars (ts_code required, as in Tushare).",
        (_code(required=True, what="index"), TRADE_DATE, START, END),
        date_column="trade_date",
        tracked_param="ts_code",
    ),
    "index_dailybasic": _bars(
        "Index valuation per trading day.", (_code(what="index"), TRADE_DATE, START, END)
    ),
    "index_weight": Shape(
        "Index constituent weights (index_code required).",
        (_code("index_code", required=True, what="index"), TRADE_DATE, START, END),
        date_column="trade_date",
        tracked_param="index_code",
    ),
    "income": _statement(
        "income", "Income statements, one row per report version.", REPORT_TYPE, COMP_TYPE
    ),
    "balancesheet": _statement(
        "balancesheet", "Balance sheets, one row per report version.", REPORT_TYPE, COMP_TYPE
    ),
    "cashflow": _statement(
        "cashflow", "Cash-flow statements, one row per report version.", REPORT_TYPE, COMP_TYPE
    ),
    "fina_indicator": _statement("fina_indicator", "Financial indicators per stock and period."),
    "forecast": _statement(
        "forecast", "Earnings forecasts (业绩预告).", _text("type", "forecast type")
    ),
    "express": _statement("express", "Earnings express reports (业绩快报)."),
    "disclosure_date": Shape(
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
}


def default_shape(entry: Table) -> Shape:
    """A table without a shape of its own: code and dates by its grain."""
    if entry.grain is Grain.WHOLE:
        return Shape(entry.description, (_code(),))
    if entry.grain is Grain.PERIOD:
        return Shape(entry.description, (_code(), PERIOD))
    return _bars(entry.description)


def table_tools(catalog: Catalog) -> tuple[TableTool, ...]:
    """A tool for each catalog table served over MCP, in catalog order."""
    tools = []
    for entry in catalog:
        if entry.mcp:
            shape = SHAPES.get(entry.api) or default_shape(entry)
            given = {f.name: getattr(shape, f.name) for f in fields(shape)}
            tools.append(TableTool(**given, entry=entry))
    return tuple(tools)


TABLE_TOOLS = table_tools(CATALOG)
TOOLS_BY_API: dict[str, TableTool] = {t.api: t for t in TABLE_TOOLS}
