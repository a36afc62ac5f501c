"""Every upstream table, declared once: what the assets, schedules, checks, plan, MCP tools and
freshness of the house are derived from.

An entry says what differs between tables (API, tier, partition grain, how keys become calls,
when it refreshes, which checks apply, who serves it); columns and keys come from the DDL
(:mod:`twilight_resources.warehouse.schema`). Adding a table is its DDL, one entry here and the
simulator's endpoint; :meth:`Catalog.problems` names whatever is still missing. Nothing here
imports Dagster, so the serving processes read it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

from twilight_resources.calendar import TradingCalendar, from_key, to_key
from twilight_resources.periods import quarter_ends
from twilight_resources.warehouse.schema import TableSpec, all_tables, table_spec
from twilight_resources.warehouse.writer import UNPARTITIONED


class Grain(StrEnum):
    """How the warehouse partitions a table, hence which partitions a request needs."""

    WHOLE = "whole"  # unpartitioned reference table, refreshed whole
    TRADE_DATE = "trade_date"  # one partition per open day
    WEEK_END = "week_end"  # last open day of each week
    MONTH_END = "month_end"  # last open day of each month
    MONTH = "month"  # month-end partitions holding rows dated any day of the month
    PERIOD = "period"  # report period (quarter end)

    @property
    def partition_set(self) -> str | None:
        """Name of the (dynamic) partition set, None for an unpartitioned table."""
        return {
            Grain.WHOLE: None,
            Grain.TRADE_DATE: "trade_dates",
            Grain.WEEK_END: "week_ends",
            Grain.MONTH_END: "month_ends",
            Grain.MONTH: "month_ends",
            Grain.PERIOD: "report_periods",
        }[self]

    @property
    def cadence(self) -> str | None:
        """How partitions fall due with the calendar: per open day (D), week (W) or month (M);
        None when they do not (whole tables, report periods)."""
        return {Grain.TRADE_DATE: "D", Grain.WEEK_END: "W"}.get(
            self, "M" if self in (Grain.MONTH_END, Grain.MONTH) else None
        )


class PlannerKind(StrEnum):
    """How a set of partition keys becomes upstream calls (``twilight_assets.planners``)."""

    BY_TRADE_DATE = "by_trade_date"  # one call per trade date, the whole market
    PER_INDEX_OVER_RANGE = "per_index_over_range"  # one call per tracked index over the range
    PER_INDEX_PER_MONTH = "per_index_per_month"  # one call per tracked index and month
    SNAPSHOT = "snapshot"  # unpartitioned: one call per parameter variant
    CALENDAR_SPAN = "calendar_span"  # both exchanges' calendars
    BY_END_DATE = "by_end_date"  # one call per report period
    FINANCIAL_REPORT = "financial_report"  # per period (vip) or per reported stock


class When(StrEnum):
    """Which partition a schedule's tick asks for (``twilight_assets.scheduling``)."""

    EVERY_DAY = "every_day"  # unpartitioned: every tick
    TRADING_DAY = "trading_day"  # the tick's date, on trading days
    PREVIOUS_WEEK_END = "previous_week_end"
    PREVIOUS_MONTH_END = "previous_month_end"
    OPEN_PERIODS = "open_periods"  # report periods whose disclosure window is open


# Checks every normalized table gets; a table's entry adds the kinds that fit its shape.
STANDARD_CHECKS = (
    "primary_key_unique",
    "required_not_null",
    "no_quarantined_rows",
    "no_unknown_columns",
)
BAR_CHECKS = (*STANDARD_CHECKS, "ohlc_sane")


@dataclass(frozen=True)
class Refresh:
    """One schedule: its job, cron (market time), which partition a tick asks, and what it says
    after the list of its tables."""

    name: str
    job: str
    cron: str | tuple[str, ...]
    when: When
    says: str


@dataclass(frozen=True)
class Table:
    """One upstream table (``raw_<api>`` and ``normalized_<api>`` in the DDL)."""

    api: str
    group: str  # tier: reference, prices, indexes, financials
    description: str
    grain: Grain
    planner: PlannerKind
    # The API the planner calls, when it is not ``api`` (a table shaped like another's answer).
    upstream_api: str | None = None
    variants: tuple[Mapping[str, Any], ...] = ({},)  # snapshot planner: one call each
    # Column of the answer naming each row's partition, for calls spanning several partitions.
    partition_column: str | None = None
    # The upstream's answer for a partition keeps changing: fetch it on every run.
    refresh: bool = False
    extra_deps: tuple[str, ...] = ()  # tables whose normalized asset the raw fetch reads
    schedules: tuple[str, ...] = ()  # Refresh names
    checks: tuple[str, ...] = STANDARD_CHECKS
    read_api: bool = False  # read by the read API's routes (warmed on a new snapshot)
    mcp: bool = True  # an MCP table tool
    # Tables a check of this table writes in the runs that materialize it (each such write
    # records a ledger row, so the run's last write, check or asset, is the one that publishes).
    check_writes: tuple[str, ...] = ()

    @property
    def calls(self) -> str:
        return self.upstream_api or self.api

    @property
    def table(self) -> str:
        return f"normalized_{self.api}"

    @property
    def spec(self) -> TableSpec:
        return table_spec(self.table)

    @property
    def raw_spec(self) -> TableSpec:
        return table_spec(f"raw_{self.api}")

    @property
    def cadence(self) -> str | None:
        return self.grain.cadence


class CatalogError(ValueError):
    """The catalog and the DDL disagree, or an entry names what does not exist."""


@dataclass(frozen=True)
class Catalog:
    tables: tuple[Table, ...]
    refreshes: tuple[Refresh, ...] = field(default=())

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)

    def __getitem__(self, api: str) -> Table:
        for table in self.tables:
            if table.api == api:
                return table
        raise KeyError(f"unknown table {api!r}; known: {', '.join(self.apis())}")

    def __contains__(self, api: object) -> bool:
        return any(t.api == api for t in self.tables)

    def apis(self, group: str | None = None) -> list[str]:
        return [t.api for t in self.tables if group is None or t.group == group]

    def scheduled_by(self, name: str) -> list[str]:
        return [t.api for t in self.tables if name in t.schedules]

    def served(self) -> tuple[str, ...]:
        return tuple(t.table for t in self.tables if t.read_api)

    def cadences(self) -> dict[str, str]:
        """normalized table -> cadence, for the tables whose partitions fall due by calendar."""
        return {t.table: t.cadence for t in self.tables if t.cadence}

    def extended(self, *tables: Table) -> Catalog:
        return replace(self, tables=(*self.tables, *tables))

    def problems(self) -> list[str]:
        """What is missing or inconsistent against the DDL and itself, one line each (empty
        when the catalog is whole)."""
        declared = set(all_tables())
        found: list[str] = []
        apis = self.apis()
        if len(set(apis)) != len(apis):
            found.append(f"tables declared twice: {sorted({a for a in apis if apis.count(a) > 1})}")
        for table in self.tables:
            for layer in ("raw", "normalized"):
                if f"{layer}_{table.api}" not in declared:
                    found.append(f"{table.api}: no DDL for {layer}_{table.api} in sql/")
            for name in table.schedules:
                if name not in {r.name for r in self.refreshes}:
                    found.append(f"{table.api}: unknown schedule {name!r}")
            for dep in table.extra_deps:
                if dep not in apis:
                    found.append(f"{table.api}: depends on unknown table {dep!r}")
            if table.partition_column and f"raw_{table.api}" in declared:
                if table.partition_column not in table.raw_spec.columns:
                    found.append(
                        f"{table.api}: partition column {table.partition_column!r} is not a "
                        f"column of raw_{table.api}"
                    )
        for name in sorted(declared):
            layer, _, api = name.partition("_")
            if layer in ("raw", "normalized") and api not in apis:
                found.append(f"{name}: declared in sql/ but no catalog entry for {api!r}")
        for refresh in self.refreshes:
            members = [self[a] for a in self.scheduled_by(refresh.name)]
            if not members:
                found.append(f"schedule {refresh.name!r}: no table refreshes on it")
            if len({t.grain.partition_set for t in members}) > 1:
                found.append(f"schedule {refresh.name!r}: its tables differ in partitions")
        return found

    def validate(self) -> Catalog:
        """The catalog itself, or :class:`CatalogError` naming every problem."""
        if found := self.problems():
            raise CatalogError("the table catalog is incomplete:\n  " + "\n  ".join(found))
        return self


def request_keys(table: Table, cal: TradingCalendar, lo: date, hi: date) -> list[str]:
    """The partition keys that hold ``table``'s rows dated in [lo, hi], as
    ``normalized/trade_cal`` registers them: what a read of the range needs (MCP coverage) and,
    through :func:`range_keys`, what a backfill of a key range fetches (``twilight plan``)."""
    grain = table.grain
    if grain is Grain.WHOLE:
        return [UNPARTITIONED]
    if grain is Grain.PERIOD:
        days = quarter_ends(lo, hi)
    elif grain is Grain.TRADE_DATE:
        days = cal.open_days(lo, hi)
    elif grain is Grain.MONTH:  # a month's rows may be dated any day of it
        days = [d for d in cal.period_ends("M") if d >= lo and cal.period_start(d, "M") <= hi]
    else:
        period = "W" if grain is Grain.WEEK_END else "M"
        days = [d for d in cal.period_ends(period, hi) if d >= lo]
    return [to_key(d) for d in days]


def range_keys(table: Table, cal: TradingCalendar, start: str, end: str) -> list[str]:
    """The partitions of a key range [start, end] (a backfill's, a range run's): those of
    :func:`request_keys` inside it. Only a month grain differs, whose rows dated up to ``end``
    may be stored under a later month end."""
    keys = request_keys(table, cal, from_key(start), from_key(end))
    return [k for k in keys if k <= end]


def _bars(api: str, group: str, description: str, grain: Grain, **extra: Any) -> Table:
    return Table(api, group, description, grain, PlannerKind.BY_TRADE_DATE, **extra)


def _statement(api: str, description: str, **extra: Any) -> Table:
    """A statement table: a period's answer grows as companies disclose (and restate), so every
    run fetches it again; asked per period (``*_vip``) or per reported stock, by
    ``TWILIGHT_FINANCIALS_MODE``."""
    return Table(
        api,
        "financials",
        description,
        Grain.PERIOD,
        PlannerKind.FINANCIAL_REPORT,
        refresh=True,
        extra_deps=("disclosure_date",),  # stock mode asks the stocks it shows reported
        schedules=("financials_full_scan",),
        **extra,
    )


_ANNOUNCED = (*STANDARD_CHECKS, "announced_before_report")
_CALENDAR_BARS = (*BAR_CHECKS, "no_calendar_gaps")

CATALOG = Catalog(
    tables=(
        Table(
            "trade_cal",
            "reference",
            "Exchange calendars (SSE, SZSE): one row per exchange and calendar day.",
            Grain.WHOLE,
            PlannerKind.CALENDAR_SPAN,
            schedules=("reference_daily",),
        ),
        Table(
            "stock_basic",
            "reference",
            "Every A-share stock, listed, delisted or paused: one row per stock.",
            Grain.WHOLE,
            PlannerKind.SNAPSHOT,
            variants=tuple({"list_status": s} for s in ("L", "D", "P")),
            schedules=("reference_daily",),
        ),
        Table(
            "index_basic",
            "reference",
            "Index definitions: one row per index.",
            Grain.WHOLE,
            PlannerKind.SNAPSHOT,
            schedules=("reference_daily",),
        ),
        _bars(
            "daily",
            "prices",
            "Unadjusted daily bars: one row per stock and trading day (none if suspended). "
            "Filled from AKShare (source='akshare') when Tushare cannot answer, per "
            "TWILIGHT_AKSHARE_MODE; a later Tushare refresh replaces those rows.",
            Grain.TRADE_DATE,
            schedules=("daily_prices_after_close",),
            checks=(*_CALENDAR_BARS, "rows_match_listed"),
            read_api=True,
            check_writes=("quality_diff",),  # the cross-source check (twilight_assets.quality)
        ),
        _bars(
            "adj_factor",
            "prices",
            "Adjustment factors: one row per stock and trading day.",
            Grain.TRADE_DATE,
            schedules=("daily_prices_after_close",),
            checks=(*STANDARD_CHECKS, "rows_match_listed", "no_calendar_gaps"),
            read_api=True,
        ),
        _bars(
            "daily_basic",
            "prices",
            "Daily valuation and turnover: one row per stock and trading day.",
            Grain.TRADE_DATE,
            schedules=("daily_prices_after_close",),
            checks=(*STANDARD_CHECKS, "rows_match_listed", "no_calendar_gaps"),
            read_api=True,
        ),
        _bars(
            "weekly",
            "prices",
            "Weekly bars dated the week's last trading day: one row per stock and week.",
            Grain.WEEK_END,
            schedules=("weekly_prices",),
            checks=(*BAR_CHECKS, "matches_daily"),
            read_api=True,
        ),
        _bars(
            "monthly",
            "prices",
            "Monthly bars dated the month's last trading day: one row per stock and month.",
            Grain.MONTH_END,
            schedules=("monthly_prices",),
            checks=(*BAR_CHECKS, "matches_daily"),
            read_api=True,
        ),
        Table(
            "index_daily",
            "indexes",
            "Index daily bars: one row per index and trading day.",
            Grain.TRADE_DATE,
            PlannerKind.PER_INDEX_OVER_RANGE,
            partition_column="trade_date",
            schedules=("index_daily_evening",),
            checks=_CALENDAR_BARS,
            read_api=True,
        ),
        _bars(
            "index_dailybasic",
            "indexes",
            "Index valuation: one row per index and trading day.",
            Grain.TRADE_DATE,
            schedules=("index_daily_evening",),
            checks=(*STANDARD_CHECKS, "no_calendar_gaps"),
        ),
        Table(
            "index_weight",
            "indexes",
            "Index constituent weights: one row per index, stock and weighting date.",
            Grain.MONTH,
            PlannerKind.PER_INDEX_PER_MONTH,
            schedules=("index_monthly",),
        ),
        Table(
            "disclosure_date",
            "financials",
            "Disclosure calendar: planned and actual report dates, one row per stock and period.",
            Grain.PERIOD,
            PlannerKind.BY_END_DATE,
            refresh=True,
            schedules=("disclosure_calendar_refresh", "financials_full_scan"),
        ),
        _statement(
            "income",
            "Income statements: one row per stock, period, report type and announcement.",
            checks=(*STANDARD_CHECKS, "disclosures_have_income"),
        ),
        _statement(
            "balancesheet",
            "Balance sheets: one row per stock, period, report type and announcement.",
            checks=(*STANDARD_CHECKS, "balances"),
        ),
        _statement(
            "cashflow",
            "Cash-flow statements: one row per stock, period, report type and announcement.",
        ),
        _statement(
            "fina_indicator",
            "Financial indicators: one row per stock, period and announcement.",
        ),
        _statement(
            "forecast",
            "Earnings forecasts (业绩预告): one row per stock, period and announcement.",
            checks=_ANNOUNCED,
        ),
        _statement(
            "express",
            "Earnings express reports (业绩快报): one row per stock, period and announcement.",
            checks=_ANNOUNCED,
        ),
    ),
    refreshes=(
        Refresh(
            "reference_daily",
            "reference_refresh",
            "30 8 * * *",
            When.EVERY_DAY,
            "every day at 08:30 (new listings, calendar).",
        ),
        Refresh(
            "daily_prices_after_close",
            "daily_prices",
            "0 18 * * *",
            When.TRADING_DAY,
            "for today at 18:00, after Tushare publishes them.",
        ),
        Refresh(
            "weekly_prices",
            "weekly_prices",
            "0 3 * * 1",
            When.PREVIOUS_WEEK_END,
            "of the week just ended, Monday 03:00.",
        ),
        Refresh(
            "monthly_prices",
            "monthly_prices",
            "30 2 1 * *",
            When.PREVIOUS_MONTH_END,
            "of the month just ended, on the 1st at 02:30.",
        ),
        Refresh(
            "index_daily_evening",
            "index_daily",
            "0 19 * * *",
            When.TRADING_DAY,
            "for today at 19:00.",
        ),
        Refresh(
            "index_monthly",
            "index_monthly",
            "0 3 1 * *",
            When.PREVIOUS_MONTH_END,
            "of the month just ended, on the 1st at 03:00.",
        ),
        # Companies disclose through the day: the sensor turns each new disclosure into a
        # statement fetch within eight hours.
        Refresh(
            "disclosure_calendar_refresh",
            "disclosure_calendar",
            "0 2,10,18 * * *",
            When.OPEN_PERIODS,
            "of the open report periods at 02:00, 10:00 and 18:00.",
        ),
        # The deadline days catch what disclosures do not announce: restatements, corrections.
        Refresh(
            "financials_full_scan",
            "financials_full_scan",
            ("0 2 30 4 *", "0 2 31 8 *", "0 2 31 10 *"),
            When.OPEN_PERIODS,
            "of the open periods on the deadline days (4/30, 8/31, 10/31) at 02:00.",
        ),
    ),
)


def check_writes(catalog: Catalog = CATALOG) -> dict[str, list[str]]:
    """Normalized table -> the tables its checks write, for each table whose checks write."""
    return {f"normalized_{t.api}": list(t.check_writes) for t in catalog if t.check_writes}


def statement_apis(catalog: Catalog = CATALOG) -> list[str]:
    """The statement tables the disclosure sensor fetches for new disclosures."""
    return [t.api for t in catalog if t.planner is PlannerKind.FINANCIAL_REPORT]
