"""Calendar-aware schedules: each tick asks for exactly the partition that is due, or says why not.

Cron expressions run in Asia/Shanghai. The tick's date is looked up in the stored trading calendar
(``normalized_trade_cal`` in the published snapshot), so weekends and holidays skip with a reason
instead of launching a run that would spend calls on a closed market.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DynamicPartitionsDefinition,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
)

from twilight_assets.dagster_shim import UnresolvedAssetJobDefinition
from twilight_resources.calendar import (
    MARKET_TZ,
    TradingCalendar,
    load_calendar,
    market_today,
    to_key,
)
from twilight_resources.catalog import check_writes
from twilight_resources.settings import get_settings
from twilight_resources.warehouse.io_manager import run_tables_tag

Picker = Callable[[date, TradingCalendar], "str | SkipReason"]


def every_day(day: date, cal: TradingCalendar) -> str | SkipReason:
    """Unpartitioned refreshes (reference tables) run whatever the calendar says."""
    return ""


def trading_day(day: date, cal: TradingCalendar) -> str | SkipReason:
    """Today's partition, on trading days only."""
    if not cal.covers(day):
        return SkipReason(f"the stored calendar does not cover {day}; refresh normalized/trade_cal")
    if not cal.is_open(day):
        kind = "weekend" if day.weekday() >= 5 else "holiday"
        return SkipReason(f"{day} ({day:%A}) is not a trading day ({kind})")
    return to_key(day)


def _previous_period_end(period: str, label: str) -> Picker:
    def pick(day: date, cal: TradingCalendar) -> str | SkipReason:
        if not cal.covers(day - timedelta(days=1)):
            return SkipReason(f"the stored calendar does not cover {day}; refresh trade_cal")
        ends = cal.period_ends(period, end=day - timedelta(days=1))
        start = cal.period_start(day - timedelta(days=1), period)
        if not ends or ends[-1] < start:
            return SkipReason(f"no trading day in the {label} before {day}")
        return to_key(ends[-1])

    return pick


previous_week_end = _previous_period_end("W", "week")
previous_month_end = _previous_period_end("M", "month")


def table_job(name: str, apis: list[str]) -> UnresolvedAssetJobDefinition:
    """A job materializing the raw and normalized assets of ``apis``; its runs publish one
    snapshot, after their last normalized write (the tag names those tables)."""
    keys = [[layer, api] for api in apis for layer in ("raw", "normalized")]
    tags = run_tables_tag(keys, check_writes())
    return define_asset_job(name, AssetSelection.assets(*keys), tags=tags)


Decide = Callable[[ScheduleEvaluationContext, date], "RunRequest | SkipReason"]


def market_schedule(
    name: str,
    job: UnresolvedAssetJobDefinition | JobDefinition,
    cron: str | list[str],
    description: str,
    decide: Decide,
) -> ScheduleDefinition:
    """A schedule in market time that honours the scheduler switch; ``decide`` gets the tick's
    market date and returns the run to request or the reason to skip."""

    def evaluate(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        if not get_settings().scheduler_enabled:
            return SkipReason("schedules are switched off (TWILIGHT_SCHEDULER_ENABLED=false)")
        tick = context.scheduled_execution_time
        return decide(context, market_today(tick) if tick else market_today())

    return ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=str(MARKET_TZ),
        execution_fn=evaluate,
        default_status=DefaultScheduleStatus.RUNNING,
        description=description,
    )


def calendar_schedule(
    name: str,
    job: UnresolvedAssetJobDefinition | JobDefinition,
    cron: str,
    pick: Picker,
    description: str,
    partitions: DynamicPartitionsDefinition | None = None,
) -> ScheduleDefinition:
    """A schedule whose tick date picks one partition of a calendar-driven partition set."""

    def decide(context: ScheduleEvaluationContext, day: date) -> RunRequest | SkipReason:
        picked = pick(day, load_calendar(get_settings()))
        if isinstance(picked, SkipReason):
            return picked
        if partitions is None:
            return RunRequest(run_key=f"{name}:{to_key(day)}")
        assert partitions.name is not None
        if not context.instance.has_dynamic_partition(partitions.name, picked):
            context.instance.add_dynamic_partitions(partitions.name, [picked])
        return RunRequest(run_key=f"{name}:{picked}", partition_key=picked)

    return market_schedule(name, job, cron, description, decide)
