"""Disclosure schedules and the new-disclosure sensor, inside and outside the season."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    PartitionKeyRange,
    RunRequest,
    SkipReason,
    build_sensor_context,
)

from tests.financials.conftest import T3, run_request
from tests.schedule_ticks import at, tick
from twilight_assets.definitions import defs
from twilight_assets.financials.sensors import evaluate, new_disclosures_sensor
from twilight_assets.runner import materialize_tables
from twilight_resources.settings import get_settings, reset_settings
from twilight_sim.server import SimServer


@pytest.mark.parametrize("name", ["disclosure_calendar_refresh", "financials_full_scan"])
def test_season_ticks_ask_both_open_periods(
    name: str, twilight_home: Path, instance: DagsterInstance
) -> None:
    request = tick(name, instance, at("20240430", 2))
    assert isinstance(request, RunRequest)
    assert request.partition_key_range == PartitionKeyRange("20231231", "20240331")
    assert set(instance.get_dynamic_partitions("report_periods")) == {"20231231", "20240331"}


def test_half_year_season_asks_one_period(twilight_home: Path, instance: DagsterInstance) -> None:
    request = tick("disclosure_calendar_refresh", instance, at("20240820", 10))
    assert isinstance(request, RunRequest)
    assert request.partition_key == "20240630"


def test_outside_the_season_skips_with_the_reason(
    twilight_home: Path, instance: DagsterInstance
) -> None:
    skip = tick("disclosure_calendar_refresh", instance, at("20240615", 18))
    assert isinstance(skip, SkipReason)
    assert "outside every disclosure window" in (skip.skip_message or "")
    crons = defs.resolve_schedule_def("financials_full_scan").cron_schedule
    assert set(crons) == {"0 2 30 4 *", "0 2 31 8 *", "0 2 31 10 *"}
    assert defs.resolve_schedule_def("disclosure_calendar_refresh").cron_schedule == (
        "0 2,10,18 * * *"
    )


def test_switched_off(
    twilight_home: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIGHT_SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("TWILIGHT_SENSORS_ENABLED", "false")
    reset_settings()
    skip = tick("financials_full_scan", instance, at("20240430", 2))
    assert isinstance(skip, SkipReason)
    result = new_disclosures_sensor(build_sensor_context(instance=instance))
    assert "switched off" in str(result.skip_reason)


def test_sensor_outside_the_season_skips(twilight_home: Path) -> None:
    result = evaluate(date(2024, 6, 15), None, get_settings())
    assert not result.run_requests
    assert "no report period is open" in str(result.skip_reason)


def test_sensor_requests_only_newly_disclosed_stocks(
    sim: SimServer,
    configure: Callable[[Path, str], None],
    tmp_path: Path,
    instance: DagsterInstance,
) -> None:
    configure(tmp_path / "home", "stock")
    sim.set_clock("20240415T18:00")
    materialize_tables(["trade_cal"], instance)
    materialize_tables(["disclosure_date"], instance)
    first = new_disclosures_sensor(build_sensor_context(instance=instance))
    periods = {r.partition_key: r for r in first.run_requests or []}
    assert set(periods) == {"20231231", "20240331"}
    codes = periods["20240331"].run_config["ops"]["raw__income"]["config"]["ts_codes"]
    assert codes and len(codes) < 16  # only stocks that have reported Q1 by 15 April

    again = new_disclosures_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    assert not again.run_requests
    assert "no new disclosure" in str(again.skip_reason)

    sim.set_clock("20240416T18:00")
    materialize_tables(["disclosure_date"], instance)
    later = new_disclosures_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    assert [r.partition_key for r in later.run_requests or []] == ["20240331"]
    fresh = later.run_requests[0].run_config["ops"]["raw__income"]["config"]["ts_codes"]
    assert fresh and not set(fresh) & set(codes)


def test_a_failed_statements_run_is_asked_again_until_it_succeeds(
    sim: SimServer,
    configure: Callable[[Path, str], None],
    tmp_path: Path,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIGHT_RETRY_ATTEMPTS", "0")  # fail at once, no backoff sleeps
    configure(tmp_path / "home", "stock")
    sim.set_clock("20240415T18:00")
    materialize_tables(["trade_cal"], instance)
    materialize_tables(["disclosure_date"], instance)
    first = new_disclosures_sensor(build_sensor_context(instance=instance))
    request = next(r for r in first.run_requests or [] if r.partition_key == "20240331")

    sim.set_faults({"error_rate": 1.0, "apis": ["income"]})
    try:
        assert not run_request(T3, instance, request)
    finally:
        sim.set_faults(None)
    retry = new_disclosures_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    asked = [r for r in retry.run_requests or [] if r.partition_key == "20240331"]
    assert len(asked) == 1, "the failed period is asked again"
    assert asked[0].run_key != request.run_key  # a new run key, or Dagster would drop it
    assert asked[0].run_config == request.run_config  # the same stocks

    assert run_request(T3, instance, asked[0])
    settled = new_disclosures_sensor(build_sensor_context(instance=instance, cursor=retry.cursor))
    assert not settled.run_requests
    # The other period's first request never ran: it is still awaited, not asked again.
    assert "waiting for 1 run(s)" in str(settled.skip_reason)
    done = json.loads(settled.cursor or "{}")["done"]
    codes = request.run_config["ops"]["raw__income"]["config"]["ts_codes"]
    assert set(done["20240331"]) == set(codes)
