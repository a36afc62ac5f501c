"""How far the warehouse can be trusted now: freshness, checks, upstream audit, disagreements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from twilight_resources.calendar import MARKET_TZ, TradingCalendar
from twilight_resources.catalog import Catalog
from twilight_resources.logs import redact
from twilight_resources.sessions import CLOSE
from twilight_serve.checks import UNAVAILABLE, CheckResults
from twilight_serve.deps import AuditDep, MarketDep, NowDep, ReaderDep, require_bearer
from twilight_serve.models import (
    PROBLEMS,
    Audit,
    AuditCall,
    CheckResult,
    Checks,
    Diff,
    Diffs,
    Freshness,
    TableFreshness,
)
from twilight_serve.validation import TS_CODE_PATTERN

router = APIRouter(
    prefix="/quality", tags=["quality"], dependencies=[Depends(require_bearer)], responses=PROBLEMS
)

FRESHNESS_SQL = """
SELECT table_name,
       count(*) FILTER (WHERE partition_key <> '') AS partitions,
       max(partition_key) FILTER (WHERE partition_key <> '') AS last_partition,
       max(written_at) AS last_write,
       sum(rows) AS rows
FROM meta_partition_latest
WHERE table_name LIKE 'normalized_%'
GROUP BY table_name
ORDER BY table_name
"""
UNIT = {"D": "trading_days", "W": "weeks", "M": "months"}
ONE_DAY = timedelta(days=1)
DIFF_NOTE = (
    "no quality_diff table in this snapshot yet: it is written by the cross_source check of "
    "normalized/daily after a daily refresh"
)
SEVERITIES = ("critical", "warning", "missing", "resolved")


def _lag(calendar: TradingCalendar, cadence: str, last: str, upto: date | None) -> int | None:
    """Partitions due by ``upto`` that come after ``last``."""
    if upto is None or not calendar.covers(upto):
        return None
    last_day = datetime.strptime(last, "%Y%m%d").date()
    due = calendar.open_days(end=upto) if cadence == "D" else calendar.period_ends(cadence, upto)
    return sum(1 for day in due if day > last_day)


def _sessions_after(calendar: TradingCalendar, last: date, upto: date | None) -> int | None:
    """Trading sessions closed after ``last`` up to ``upto`` (the last closed session)."""
    if upto is None or not calendar.covers(upto):
        return None
    return sum(1 for day in calendar.open_days(end=upto) if day > last)


def _key_day(key: object) -> date | None:
    if isinstance(key, str) and key.isdigit() and len(key) == 8:
        return datetime.strptime(key, "%Y%m%d").date()
    return None


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog  # set by the app factory
    return catalog


@router.get("/freshness", response_model=Freshness)
def freshness(
    reader: ReaderDep,
    market: MarketDep,
    now: NowDep,
    catalog: Annotated[Catalog, Depends(get_catalog)],
) -> Freshness:
    """Per table: last partition, last write, partitions due but missing (``lag``) and trading
    sessions closed since (``sessions_behind``). Unpartitioned tables (calendar, stock and
    index lists, refreshed whole) count as one partition, have no ``lag`` and are behind by the
    sessions closed since their last write."""
    generation = reader.snapshot_info().generation
    state = market.state(now)
    upto = state.last_close_date
    # How each table's partitions advance: per open day, or per last open day of a week/month.
    cadences = catalog.cadences()
    tables = []
    for row in reader.query(FRESHNESS_SQL).to_dict("records"):
        cadence = cadences.get(row["table_name"])
        last = row["last_partition"]
        last_day = _key_day(last)
        last_write = row["last_write"].to_pydatetime().replace(tzinfo=UTC)
        partitioned = int(row["partitions"]) > 0
        if partitioned:
            lag = _lag(market.calendar, cadence, last, upto) if cadence and last_day else None
            behind = _sessions_after(market.calendar, last_day, upto) if last_day else None
        else:
            written = last_write.astimezone(MARKET_TZ)
            # A write after a session's close covers that session.
            covered = written.date() if written.time() >= CLOSE else written.date() - ONE_DAY
            behind = _sessions_after(market.calendar, covered, upto)
            lag = None  # no partitions fall due: the table is refreshed whole
        tables.append(
            TableFreshness(
                table=row["table_name"],
                partitioned=partitioned,
                partitions=int(row["partitions"]) if partitioned else 1,
                last_partition=last if isinstance(last, str) and last else None,
                last_write=last_write,
                rows=int(row["rows"]),
                lag=lag,
                lag_unit=UNIT[cadence] if cadence else None,
                sessions_behind=behind,
            )
        )
    return Freshness(last_closed_session=upto, snapshot_generation=generation, tables=tables)


async def get_checks(request: Request) -> CheckResults:
    checks: CheckResults = request.app.state.checks  # set by the app factory
    return checks


@router.get("/checks", response_model=Checks)
def checks(results: Annotated[CheckResults, Depends(get_checks)]) -> Checks:
    """Latest result of every asset check, from the Dagster instance (DAGSTER_HOME)."""
    if not results.available:
        return Checks(available=False, note=UNAVAILABLE, checks=[])
    try:
        latest = results.latest()
    except Exception as exc:  # any failure of the instance is reported, not turned into a 500
        note = f"the Dagster instance at {results.dagster_home} could not be read: {exc}"
        return Checks(available=False, note=redact(note), checks=[])
    return Checks(available=True, checks=[CheckResult(**r) for r in latest])


@router.get("/audit", response_model=Audit)
def audit(
    log: AuditDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="most recent calls to list")] = 100,
) -> Audit:
    """Recent upstream calls (newest first), the requests spent per window, refusals per API."""
    calls = [
        AuditCall(**{**call, "called_at": datetime.fromtimestamp(float(call["called_at"]), UTC)})
        for call in log.recent(limit)
    ]
    return Audit(spend=log.spend(), apis=log.by_api(), calls=calls)


@router.get("/diff", response_model=Diffs)
def diff(
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="most recent rows")] = 100,
    severity: Annotated[
        str | None, Query(pattern="^(critical|warning|missing|resolved)$", description="only")
    ] = None,
    ts_code: Annotated[
        str | None,
        Query(pattern=TS_CODE_PATTERN, description="only this stock (e.g. 600000.SH)"),
    ] = None,
) -> Diffs:
    """Cross-source disagreements (warehouse vs AKShare), newest day first, critical first.

    One row per (trade_date, ts_code, field): both values in Tushare's units, the relative
    difference and its severity; ``resolved`` rows were found apart once and agree now.
    """
    exists = reader.query(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'quality_diff'"
    )
    if exists.empty:
        return Diffs(available=False, note=DIFF_NOTE, diffs=[])
    frame = reader.query(
        "SELECT trade_date, ts_code, field, warehouse_value, akshare_value, rel_diff, severity, "
        "checked_at, source FROM quality_diff "
        "WHERE (CAST($severity AS VARCHAR) IS NULL OR severity = $severity) "
        "AND (CAST($ts_code AS VARCHAR) IS NULL OR ts_code = $ts_code) "
        "ORDER BY trade_date DESC, CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 "
        "WHEN 'missing' THEN 2 ELSE 3 END, ts_code, field LIMIT $limit",
        {"severity": severity, "ts_code": ts_code, "limit": limit},
    )
    # pandas-stubs' Scalar leaves out None, which where() takes as the fill value.
    frame = frame.astype(object).where(frame.notna(), None)  # type: ignore[call-overload]
    rows = [
        Diff(**{**row, "checked_at": row["checked_at"].to_pydatetime().replace(tzinfo=UTC)})
        for row in frame.to_dict("records")
    ]
    return Diffs(available=True, diffs=rows)
