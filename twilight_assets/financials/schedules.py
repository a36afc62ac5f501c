"""Disclosure-driven refreshes (Asia/Shanghai).

The disclosure calendar of every open period is refreshed three times a day (02:00, 10:00,
18:00): companies disclose through the day and the sensor turns each new disclosure into a
statement fetch within eight hours. A full scan of the open periods on the deadline days (30
April, 31 August, 31 October at 02:00) catches what disclosures do not announce: restatements
and late corrections. Outside the disclosure windows both skip with the reason.
"""

from __future__ import annotations

from datetime import date

from dagster import (
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,  # dagster exports no public name for this type
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from twilight_assets.financials.assets import STATEMENT_TABLES
from twilight_assets.financials.periods import open_periods
from twilight_assets.partitions import report_periods
from twilight_assets.scheduling import market_schedule, table_job
from twilight_resources.calendar import MARKET_TZ, to_key

disclosure_job = table_job("disclosure_calendar", ["disclosure_date"])
statements_job = table_job("financial_statements", list(STATEMENT_TABLES))
full_scan_job = table_job("financials_full_scan", ["disclosure_date", *STATEMENT_TABLES])

DISCLOSURE_CRON = "0 2,10,18 * * *"
FULL_SCAN_CRONS = ["0 2 30 4 *", "0 2 31 8 *", "0 2 31 10 *"]


def open_period_request(name: str, day: date, stamp: str) -> RunRequest | SkipReason:
    """One run over the open periods of ``day``: a partition range when two are open."""
    periods = [to_key(p) for p in open_periods(day)]
    if not periods:
        return SkipReason(f"{day} is outside every disclosure window; no period is open")
    run_key = f"{name}:{stamp}"
    if len(periods) == 1:
        return RunRequest(run_key=run_key, partition_key=periods[0])
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: periods[0],
        ASSET_PARTITION_RANGE_END_TAG: periods[-1],
    }
    return RunRequest(run_key=run_key, tags=tags)


def period_schedule(
    name: str, job: UnresolvedAssetJobDefinition, cron: str | list[str], description: str
) -> ScheduleDefinition:
    """A schedule requesting the open report periods of its tick's date."""

    def decide(context: ScheduleEvaluationContext, day: date) -> RunRequest | SkipReason:
        tick = context.scheduled_execution_time
        stamp = tick.astimezone(MARKET_TZ).strftime("%Y%m%dT%H%M") if tick else to_key(day)
        request = open_period_request(name, day, stamp)
        if isinstance(request, RunRequest):
            assert report_periods.name is not None
            known = set(context.instance.get_dynamic_partitions(report_periods.name))
            if missing := [to_key(p) for p in open_periods(day) if to_key(p) not in known]:
                context.instance.add_dynamic_partitions(report_periods.name, missing)
        return request

    return market_schedule(name, job, cron, description, decide)


schedules = [
    period_schedule(
        "disclosure_calendar_refresh",
        disclosure_job,
        DISCLOSURE_CRON,
        "disclosure_date of the open report periods at 02:00, 10:00 and 18:00.",
    ),
    period_schedule(
        "financials_full_scan",
        full_scan_job,
        FULL_SCAN_CRONS,
        "every T3 table of the open periods on the deadline days (4/30, 8/31, 10/31) at 02:00.",
    ),
]
