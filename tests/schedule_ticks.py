"""Evaluate a schedule of the real code location at a given market time."""

from __future__ import annotations

from datetime import datetime

from dagster import DagsterInstance, RunRequest, SkipReason, build_schedule_context

from twilight_assets.definitions import defs
from twilight_resources.calendar import MARKET_TZ


def tick(name: str, instance: DagsterInstance, when: datetime) -> RunRequest | SkipReason:
    """The one run a tick requests, or its skip reason."""
    schedule = defs.resolve_schedule_def(name)
    context = build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    result = schedule.evaluate_tick(context)
    if result.run_requests:
        assert len(result.run_requests) == 1
        return result.run_requests[0]
    assert result.skip_message is not None
    return SkipReason(result.skip_message)


def at(day: str, hour: int) -> datetime:
    return datetime.strptime(day, "%Y%m%d").replace(hour=hour, tzinfo=MARKET_TZ)
