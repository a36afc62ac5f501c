"""Disclosure-driven refreshes (Asia/Shanghai): runs over the report periods still open.

The disclosure calendar is refreshed a few times a day and the statements on the deadline days
(the catalog's refreshes); outside the disclosure windows both skip with the reason. The
statements job is what the disclosure sensor launches.
"""

from __future__ import annotations

from datetime import date

from dagster import (
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
)

from twilight_assets.dagster_shim import UnresolvedAssetJobDefinition, partition_range_tags
from twilight_assets.partitions import report_periods
from twilight_assets.scheduling import market_schedule, table_job
from twilight_resources.calendar import MARKET_TZ, to_key
from twilight_resources.catalog import statement_apis
from twilight_resources.periods import open_periods

statements_job = table_job("financial_statements", statement_apis())


def open_period_request(name: str, day: date, stamp: str) -> RunRequest | SkipReason:
    """One run over the open periods of ``day``: a partition range when two are open."""
    periods = [to_key(p) for p in open_periods(day)]
    if not periods:
        return SkipReason(f"{day} is outside every disclosure window; no period is open")
    run_key = f"{name}:{stamp}"
    if len(periods) == 1:
        return RunRequest(run_key=run_key, partition_key=periods[0])
    return RunRequest(run_key=run_key, tags=partition_range_tags(periods[0], periods[-1]))


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
