"""Asset checks on the normalized tables, run against a real warehouse and its snapshots.

A small consistent market (calendar, stocks, daily bars and the weekly/monthly bars derived from
them) passes every check; each defect case injects exactly one flaw and expects exactly one check
to fail, saying where.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from dagster import (
    AssetCheckResult,
    AssetSelection,
    DagsterInstance,
    Definitions,
    build_asset_check_context,
    define_asset_job,
)

from twilight_assets.checks import KINDS, build_checks, ohlc_sane, required_not_null, run_probe
from twilight_assets.tables import build_assets
from twilight_resources.catalog import CATALOG, Catalog
from twilight_resources.settings import get_settings
from twilight_resources.tushare import TushareResource
from twilight_resources.warehouse import (
    DuckDBWarehouseIOManager,
    SnapshotInfo,
    WarehouseWriter,
    apply_ddl,
    normalize_frame,
    publish_snapshot,
    table_spec,
)
from twilight_resources.warehouse import reader as reader_module

Edit = Callable[[pd.DataFrame], pd.DataFrame]

START, END = date(2024, 1, 1), date(2024, 2, 29)
HOLIDAYS = {date(2024, 1, 1)} | {date(2024, 2, d) for d in range(9, 18)}  # New Year, Spring Fest.
STOCKS = {  # ts_code: (list_date, delist_date)
    "000001.SZ": ("19910403", ""),
    "000002.SZ": ("19910129", ""),
    "000003.SZ": ("19910114", "20240201"),  # delisted: rows up to Jan 31
    "600000.SH": ("19991110", ""),
    "600519.SH": ("20240115", ""),  # listed mid-range: rows from Jan 15
}
DEFECT_DAY = "20240117"  # a Wednesday: neither the last day of its week nor of its month
EXPECTED_CHECKS = {
    "primary_key_unique": {
        *("daily", "adj_factor", "daily_basic", "weekly", "monthly", "index_daily"),
        *("index_dailybasic", "index_weight", "stock_basic", "trade_cal", "index_basic"),
    },
    "ohlc_sane": {"daily", "weekly", "monthly", "index_daily"},
    "rows_match_listed": {"daily", "adj_factor", "daily_basic"},
    "matches_daily": {"weekly", "monthly"},
    "no_calendar_gaps": {"daily", "adj_factor", "daily_basic", "index_daily", "index_dailybasic"},
}
for every_table in ("required_not_null", "no_quarantined_rows", "no_unknown_columns"):
    EXPECTED_CHECKS[every_table] = EXPECTED_CHECKS["primary_key_unique"]
# The tables these checks are written against (the financial ones have tests of their own).
NOT_FINANCIAL = Catalog(tuple(t for t in CATALOG if t.group != "financials"), CATALOG.refreshes)
checks = build_checks(NOT_FINANCIAL, KINDS)


def days() -> list[date]:
    return [START + timedelta(n) for n in range((END - START).days + 1)]


def is_open(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


def key(day: date) -> str:
    return day.strftime("%Y%m%d")


def trade_cal_text() -> pd.DataFrame:
    """SSE calendar, every calendar day, as text (what the raw layer holds)."""
    rows, previous = [], ""
    for day in days():
        rows.append(("SSE", key(day), "1" if is_open(day) else "0", previous))
        previous = key(day) if is_open(day) else previous
    return pd.DataFrame(rows, columns=["exchange", "cal_date", "is_open", "pretrade_date"])


def stock_basic_text() -> pd.DataFrame:
    return pd.DataFrame(
        [(code, code[:6], "L" if not out else "D", on, out) for code, (on, out) in STOCKS.items()],
        columns=["ts_code", "symbol", "list_status", "list_date", "delist_date"],
    )


def daily_text() -> pd.DataFrame:
    """One sane bar per listed stock and open day, prices and volumes with two decimals."""
    rows = []
    for j, day in enumerate(d for d in days() if is_open(d)):
        for i, (code, (on, out)) in enumerate(STOCKS.items()):
            if on <= key(day) and (not out or key(day) < out):
                close = 10 + i + 0.05 * j
                low, high = close - 0.12, close + 0.07
                values = (close - 0.03, high, low, close, 1000 + 37.25 * j + i)
                rows.append((code, key(day), *(f"{v:.2f}" for v in values)))
    return pd.DataFrame(
        rows, columns=["ts_code", "trade_date", "open", "high", "low", "close", "vol"]
    )


def period_bars(daily: pd.DataFrame, period: str) -> pd.DataFrame:
    """Weekly ('W', ISO weeks) or monthly ('M') bars aggregated from ``daily``, as text.

    Each is dated its period's last stored day, as Tushare dates them by the last trading day.
    """
    frame = daily.copy()
    for column in ("open", "high", "low", "close", "vol"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    dates = pd.to_datetime(frame["trade_date"], format="%Y%m%d")
    frame["period"] = (
        dates - pd.to_timedelta(dates.dt.weekday, unit="D") if period == "W" else dates.dt.month
    )
    frame["period_end"] = frame.groupby("period")["trade_date"].transform("max")
    frame = frame.sort_values(["ts_code", "trade_date"])
    bars = frame.groupby(["ts_code", "period_end"], as_index=False).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), vol=("vol", "sum")
    )
    bars["close"] = frame.groupby(["ts_code", "period_end"])["close"].last().to_numpy()
    bars = bars.rename(columns={"period_end": "trade_date"})
    for column in ("open", "high", "low", "close", "vol"):
        bars[column] = bars[column].map(lambda v: f"{v:.2f}")
    return bars


def market(daily_edit: Edit | None = None) -> dict[str, pd.DataFrame]:
    """Text frames of a consistent market; weekly/monthly derived after ``daily_edit``."""
    daily = daily_text()
    if daily_edit is not None:
        daily = daily_edit(daily)
    return {
        "trade_cal": trade_cal_text(),
        "stock_basic": stock_basic_text(),
        "daily": daily,
        "weekly": period_bars(daily, "W"),
        "monthly": period_bars(daily, "M"),
    }


def write(frames: Mapping[str, pd.DataFrame]) -> None:
    """Normalize and write each frame as its asset would; every write publishes a snapshot."""
    writer = WarehouseWriter(
        get_settings().warehouse_file, memory_limit="256MB", threads=1, lock_timeout=30
    )
    for api, text in frames.items():
        batch = normalize_frame(f"normalized_{api}", text)
        assert batch.rejects.empty, batch.rejects
        writer.write(f"normalized_{api}", batch)


def run_checks() -> dict[str, AssetCheckResult]:
    """Every check, invoked directly, keyed ``<api>.<check name>``.

    One context for all: invoked bare, Dagster builds an ephemeral instance per call (~0.1 s).
    """
    results = {}
    with DagsterInstance.ephemeral() as instance:
        context = build_asset_check_context(instance=instance)
        for check in checks:
            for result in check(context):
                assert isinstance(result, AssetCheckResult) and result.asset_key is not None
                results[f"{result.asset_key.path[-1]}.{result.check_name}"] = result
    return results


def failures(results: Mapping[str, AssetCheckResult]) -> dict[str, str]:
    return {name: str(r.description) for name, r in results.items() if not r.passed}


def meta(result: AssetCheckResult, name: str) -> object:
    return result.metadata[name].value


def test_one_non_blocking_check_per_kind_and_table() -> None:
    found: dict[str, set[str]] = {}
    for check in checks:
        tables = {spec.asset_key for spec in check.check_specs}
        assert len(tables) == 1, "one step per table"
        for spec in check.check_specs:
            assert not spec.blocking and spec.asset_key.path[0] == "normalized"
            found.setdefault(spec.name, set()).add(spec.asset_key.path[-1])
    assert found == EXPECTED_CHECKS
    specs = [spec for check in checks for spec in check.check_specs]
    assert len(specs) == sum(map(len, EXPECTED_CHECKS.values()))


def test_checks_run_in_a_dagster_job_beside_the_real_assets(twilight_home: Path) -> None:
    assets = build_assets(NOT_FINANCIAL)
    asset_keys = {key for a in assets for key in a.keys}
    assert {key.asset_key for c in checks for key in c.check_keys} <= asset_keys
    job = define_asset_job("checks_only", selection=AssetSelection.checks(*checks))
    resources = {"tushare": TushareResource(), "io_manager": DuckDBWarehouseIOManager()}
    defs = Definitions(assets=assets, asset_checks=checks, jobs=[job], resources=resources)
    defs.resolve_implicit_global_asset_job_def()
    result = defs.resolve_job_def("checks_only").execute_in_process()
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == sum(len(list(c.check_specs)) for c in checks)
    assert all(e.passed and "no rows yet" in str(e.description) for e in evaluations)


def test_empty_warehouse_passes_with_no_rows_yet(twilight_home: Path) -> None:
    for published in (False, True):
        if published:
            publish_snapshot(get_settings().warehouse_file)
        results = run_checks()
        assert failures(results) == {}
        assert all("no rows yet" in str(r.description) for r in results.values())


def test_consistent_market_passes_every_check(twilight_home: Path) -> None:
    write(market())
    results = run_checks()
    assert failures(results) == {}
    stored = {"daily", "weekly", "monthly", "trade_cal", "stock_basic"}
    for name, result in results.items():
        assert ("no rows yet" in str(result.description)) == (name.split(".")[0] not in stored)
    open_days = sum(map(is_open, days()))
    assert meta(results["daily.rows_match_listed"], "days_checked") == open_days
    assert meta(results["daily.no_calendar_gaps"], "open_days_expected") == open_days
    weeks, months = len(market()["weekly"]), len(market()["monthly"])
    assert meta(results["weekly.matches_daily"], "bars_compared") == weeks
    assert meta(results["monthly.matches_daily"], "bars_compared") == months
    assert meta(results["daily.ohlc_sane"], "table_rows") == len(daily_text())


def test_skips_what_it_cannot_judge_without_calendar_or_stocks(twilight_home: Path) -> None:
    frames = market()
    write({"daily": frames["daily"], "weekly": frames["weekly"]})
    results = run_checks()
    assert failures(results) == {}
    assert "normalized_stock_basic is empty" in str(results["daily.rows_match_listed"].description)
    for name in ("daily.no_calendar_gaps", "weekly.matches_daily"):
        assert "normalized_trade_cal has no SSE days" in str(results[name].description)


def at(frame: pd.DataFrame, code: str, day: str) -> pd.Series:
    return (frame["ts_code"] == code) & (frame["trade_date"] == day)


def close_above_high(daily: pd.DataFrame) -> pd.DataFrame:
    row = at(daily, "600000.SH", DEFECT_DAY)
    daily.loc[row, "close"] = f"{float(daily.loc[row, 'high'].item()) + 0.5:.2f}"
    return daily


def without_day(daily: pd.DataFrame) -> pd.DataFrame:
    return daily[daily["trade_date"] != DEFECT_DAY]


def one_stock_on_day(daily: pd.DataFrame) -> pd.DataFrame:
    return daily[(daily["trade_date"] != DEFECT_DAY) | (daily["ts_code"] == "000001.SZ")]


def null_close(daily: pd.DataFrame) -> pd.DataFrame:
    daily.loc[at(daily, "000002.SZ", DEFECT_DAY), "close"] = ""
    return daily


def weekly_high_off(weekly: pd.DataFrame) -> pd.DataFrame:
    row = at(weekly, "000001.SZ", "20240119")
    weekly.loc[row, "high"] = f"{float(weekly.loc[row, 'high'].item()) + 1:.2f}"
    return weekly


def listed_late(stock_basic: pd.DataFrame) -> pd.DataFrame:
    stock_basic.loc[stock_basic["ts_code"] == "600519.SH", "list_date"] = "20240201"
    return stock_basic


@dataclass(frozen=True)
class Defect:
    """One flaw: in daily before weekly/monthly are derived (as upstream would derive them),
    or in one finished table."""

    failing: str
    mentions: tuple[str, ...]
    daily: Edit | None = None
    table: str = ""
    edit: Edit | None = None


DEFECTS = {
    "bar_with_close_above_high": Defect(
        "daily.ohlc_sane", ("1 of", "close > high", "600000.SH", "2024-01-17"), close_above_high
    ),
    # A day the warehouse failed to store, though upstream's weekly and monthly bars include
    # it: those periods are no longer covered, so only the gap check may complain.
    "missing_trading_day": Defect(
        "daily.no_calendar_gaps",
        ("1 of", "missing_date=2024-01-17"),
        table="daily",
        edit=without_day,
    ),
    "too_few_rows_on_a_day": Defect(
        "daily.rows_match_listed",
        ("1 of", "trade_date=2024-01-17", "stored_rows=1", "listed_stocks=5"),
        one_stock_on_day,
    ),
    "null_close": Defect(
        "daily.required_not_null", ("000002.SZ", "null_columns=close"), null_close
    ),
    "weekly_high_disagrees_with_daily": Defect(
        "weekly.matches_daily",
        ("1 of", "000001.SZ", "trade_date=2024-01-19", "mismatched=high"),
        table="weekly",
        edit=weekly_high_off,
    ),
    "stock_basic_lists_a_stock_too_late": Defect(
        "daily.rows_match_listed",
        ("13 of", "trade_date=2024-01-15", "stored_rows=5", "listed_stocks=4"),
        table="stock_basic",
        edit=listed_late,
    ),
}


@pytest.mark.parametrize("defect", DEFECTS.values(), ids=DEFECTS.keys())
def test_one_defect_fails_exactly_its_check(twilight_home: Path, defect: Defect) -> None:
    frames = market(defect.daily)
    if defect.edit is not None:
        frames[defect.table] = defect.edit(frames[defect.table])
    write(frames)
    results = run_checks()
    assert list(failures(results)) == [defect.failing]
    description = failures(results)[defect.failing]
    assert all(m in description for m in defect.mentions), description
    assert "examples" in results[defect.failing].metadata


def test_duplicate_primary_key_fails(twilight_home: Path) -> None:
    """The DDL's PRIMARY KEY makes duplicates impossible through the writer; a table rebuilt
    without it (as a careless re-sort would) is what this check is there to catch."""
    path = get_settings().warehouse_file
    path.parent.mkdir(parents=True)
    conn = duckdb.connect(str(path))
    try:
        apply_ddl(conn)
        conn.execute("CREATE TABLE keyless AS SELECT * FROM normalized_index_basic")
        conn.execute("DROP TABLE normalized_index_basic")
        conn.execute("ALTER TABLE keyless RENAME TO normalized_index_basic")
        conn.execute(
            "INSERT INTO normalized_index_basic (ts_code, name) VALUES "
            "('000300.SH', 'CSI 300'), ('000300.SH', 'CSI300'), ('000905.SH', 'CSI 500')"
        )
    finally:
        conn.close()
    publish_snapshot(path)
    results = run_checks()
    assert list(failures(results)) == ["index_basic.primary_key_unique"]
    description = failures(results)["index_basic.primary_key_unique"]
    assert "ts_code=000300.SH, copies=2" in description, description


def test_a_run_of_trade_dates_checks_those_dates_only(twilight_home: Path) -> None:
    write(market(close_above_high))
    daily = table_spec("normalized_daily")
    before = run_probe(daily, ohlc_sane, "ohlc_sane", ("20240115", "20240116"))
    assert before.passed and meta(before, "checked_dates") == "20240115..20240116"
    bars = market()["daily"]["trade_date"]
    assert meta(before, "table_rows") == bars.isin(["20240115", "20240116"]).sum() > 0
    during = run_probe(daily, ohlc_sane, "ohlc_sane", (DEFECT_DAY, DEFECT_DAY))
    assert not during.passed and meta(during, "table_rows") == (bars == DEFECT_DAY).sum()
    whole = run_probe(daily, ohlc_sane, "ohlc_sane")
    assert not whole.passed and meta(whole, "checked_dates") == "whole table"
    # Tables not partitioned by trade date are always checked whole.
    weekly = run_probe(
        table_spec("normalized_weekly"),
        required_not_null,
        "required_not_null",
        ("20240115", "20240116"),
    )
    assert meta(weekly, "checked_dates") == "whole table"
    assert meta(weekly, "table_rows") == len(market()["weekly"])


def test_a_table_s_checks_open_the_snapshot_once(
    twilight_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a snapshot costs a DuckDB database each: one per check step, not per check."""
    write(market())
    opened: list[Path] = []  # the snapshot of each pool the reader opens
    real_pool = reader_module._Pool

    def counting_pool(info: SnapshotInfo, *args: Any, **kwargs: Any) -> Any:
        opened.append(info.path)
        return real_pool(info, *args, **kwargs)

    monkeypatch.setattr(reader_module, "_Pool", counting_pool)
    daily = next(c for c in checks if {k.asset_key.path[-1] for k in c.check_keys} == {"daily"})
    with DagsterInstance.ephemeral() as instance:
        results = list(daily(build_asset_check_context(instance=instance)))
    expected = sum("daily" in tables for tables in EXPECTED_CHECKS.values())
    assert len(results) == expected > 1 and all(r.passed for r in results)
    assert len(opened) == 1
