"""Schedule ticks on a trading day, a holiday and a weekend, against the stored calendar."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, RunRequest, SkipReason

from tests.schedule_ticks import at, tick
from twilight_assets.runner import materialize_tables
from twilight_sim.server import SimServer


@pytest.fixture
def calendar_stored(platform: Path, sim: SimServer, instance: DagsterInstance) -> DagsterInstance:
    materialize_tables(["trade_cal"], instance)
    return instance


@pytest.mark.parametrize("name", ["daily_prices_after_close", "index_daily_evening"])
def test_daily_schedules(name: str, calendar_stored: DagsterInstance) -> None:
    run = tick(name, calendar_stored, at("20240605", 18))  # a Wednesday
    assert isinstance(run, RunRequest) and run.partition_key == "20240605"

    holiday = tick(name, calendar_stored, at("20240610", 18))  # Dragon Boat Festival, Monday
    assert isinstance(holiday, SkipReason) and "holiday" in (holiday.skip_message or "")

    weekend = tick(name, calendar_stored, at("20240608", 18))  # Saturday
    assert isinstance(weekend, SkipReason) and "weekend" in (weekend.skip_message or "")


def test_weekly_and_monthly_pick_the_period_just_ended(calendar_stored: DagsterInstance) -> None:
    weekly = tick("weekly_prices", calendar_stored, at("20240617", 3))
    assert isinstance(weekly, RunRequest) and weekly.partition_key == "20240614"  # Friday
    # The week of Dragon Boat Festival still ends on Friday the 14th; the week before Labour
    # Day's holiday ends early: May 1-5 were closed, so that week's last day was April 30.
    monthly = tick("monthly_prices", calendar_stored, at("20240701", 2))
    assert isinstance(monthly, RunRequest) and monthly.partition_key == "20240628"
    index_weight = tick("index_monthly", calendar_stored, at("20240601", 3))
    assert isinstance(index_weight, RunRequest) and index_weight.partition_key == "20240531"


def test_ticks_skip_when_calendar_missing_or_switched_off(
    platform: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    skipped = tick("daily_prices_after_close", instance, at("20240605", 18))
    assert isinstance(skipped, SkipReason) and "trade_cal" in (skipped.skip_message or "")
    monkeypatch.setenv("TWILIGHT_SCHEDULER_ENABLED", "false")
    from twilight_resources.settings import reset_settings

    reset_settings()
    off = tick("reference_daily", instance, at("20240605", 8))
    assert isinstance(off, SkipReason) and "switched off" in (off.skip_message or "")
