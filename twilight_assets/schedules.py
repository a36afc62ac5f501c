"""Every schedule and its job, from the catalog's refreshes and the tables naming them.

Cron expressions run in Asia/Shanghai. Reference tables refresh every morning before the open;
prices and indices after the close on trading days, weekly and monthly bars after their period
ends; the disclosure calendar through the disclosure season (``financials.schedules``).
"""

from __future__ import annotations

from dagster import ScheduleDefinition

from twilight_assets.financials.schedules import period_schedule
from twilight_assets.partitions import partitions_for
from twilight_assets.scheduling import (
    Picker,
    calendar_schedule,
    every_day,
    previous_month_end,
    previous_week_end,
    table_job,
    trading_day,
)
from twilight_resources.catalog import CATALOG, Catalog, Refresh, When

PICKERS: dict[When, Picker] = {
    When.EVERY_DAY: every_day,
    When.TRADING_DAY: trading_day,
    When.PREVIOUS_WEEK_END: previous_week_end,
    When.PREVIOUS_MONTH_END: previous_month_end,
}


def build_schedule(catalog: Catalog, refresh: Refresh) -> ScheduleDefinition:
    apis = catalog.scheduled_by(refresh.name)
    job = table_job(refresh.job, apis)
    description = f"{', '.join(apis)} {refresh.says}"
    if refresh.when is When.OPEN_PERIODS:
        cron = refresh.cron if isinstance(refresh.cron, str) else list(refresh.cron)
        return period_schedule(refresh.name, job, cron, description)
    assert isinstance(refresh.cron, str), f"{refresh.name}: one cron per calendar schedule"
    partitions = partitions_for(catalog[apis[0]].grain)
    return calendar_schedule(
        refresh.name, job, refresh.cron, PICKERS[refresh.when], description, partitions
    )


def build_schedules(catalog: Catalog) -> list[ScheduleDefinition]:
    return [build_schedule(catalog, refresh) for refresh in catalog.refreshes]


schedules = build_schedules(CATALOG)
