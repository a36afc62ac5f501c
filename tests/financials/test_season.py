"""The 8-hour refresh cycle across the April season ends where a full scan ends, for fewer calls.

Stock mode is the expensive way to ask (one call per stock, period and table), so it is the one
that needs the sensor's narrowing: the cycle runs in stock mode, the reference full scan in
period mode on a fresh home, and the two warehouses must hold the same statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from dagster import (
    DagsterInstance,
    RunRequest,
    ScheduleDefinition,
    build_schedule_context,
    build_sensor_context,
)

from tests.financials.conftest import T3, run_request
from twilight_assets.definitions import defs
from twilight_assets.financials.sensors import new_disclosures_sensor
from twilight_assets.runner import materialize_tables
from twilight_resources.calendar import MARKET_TZ
from twilight_resources.settings import get_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_sim.server import SimServer

DISCLOSURE_SCHEDULE = defs.resolve_schedule_def("disclosure_calendar_refresh")
FULL_SCAN_SCHEDULE = defs.resolve_schedule_def("financials_full_scan")
START = datetime(2024, 4, 24, 2, 0, tzinfo=MARKET_TZ)
END = datetime(2024, 4, 30, 18, 0, tzinfo=MARKET_TZ)
PERIODS = ("20231231", "20240331")
TABLES = ("disclosure_date", *T3)
LINEAGE = ["source", "ingested_at", "raw_id"]


def _run(apis: Sequence[str], instance: DagsterInstance, request: RunRequest) -> None:
    assert run_request(apis, instance, request)


def _scheduled(
    schedule: ScheduleDefinition, instance: DagsterInstance, tick: datetime
) -> list[RunRequest]:
    context = build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    )
    return list(schedule.evaluate_tick(context).run_requests or [])


def _tables() -> dict[str, pd.DataFrame]:
    with WarehouseReader.from_settings(get_settings()) as reader:
        out = {}
        for api in TABLES:
            spec = f"normalized_{api}"
            frame = reader.query(
                f"SELECT * EXCLUDE ({', '.join(LINEAGE)}) FROM {spec} "
                "WHERE strftime(end_date, '%Y%m%d') IN (SELECT unnest(?))",
                [list(PERIODS)],
            )
            out[api] = frame.sort_values(list(frame.columns[:4])).reset_index(drop=True)
    return out


def _t3_calls(sim: SimServer) -> int:
    return sum(n for api, n in sim.stats().items() if api.split("_vip")[0] in T3)


def test_cycle_matches_full_scan_with_few_calls(
    sim: SimServer,
    configure: Callable[[Path, str], None],
    tmp_path: Path,
    instance: DagsterInstance,
    record_property: Callable[[str, object], None],
) -> None:
    configure(tmp_path / "cycle", "stock")
    sim.set_clock(START.strftime("%Y%m%dT%H:%M"))
    materialize_tables(["trade_cal"], instance)
    sim.reset_stats()
    cursor, steps, statement_runs, tick = None, 0, 0, START
    while tick <= END:
        sim.set_clock(tick.strftime("%Y%m%dT%H:%M"))
        for request in _scheduled(DISCLOSURE_SCHEDULE, instance, tick):
            _run(["disclosure_date"], instance, request)
        if tick.strftime("%m%d%H") == "043002":
            for request in _scheduled(FULL_SCAN_SCHEDULE, instance, tick):
                _run(TABLES, instance, request)
        result = new_disclosures_sensor(build_sensor_context(instance=instance, cursor=cursor))
        cursor = result.cursor
        for request in result.run_requests or []:
            _run(T3, instance, request)
            statement_runs += 1
        steps += 1
        tick += timedelta(hours=8)
    cycle = _tables()
    calls = _t3_calls(sim)
    stocks = len(cycle["disclosure_date"]["ts_code"].unique())

    configure(tmp_path / "full", "period")
    materialize_tables(["trade_cal"], instance)
    materialize_tables(TABLES, instance, start=PERIODS[0], end=PERIODS[-1])
    full = _tables()

    for api in TABLES:
        pd.testing.assert_frame_equal(cycle[api], full[api], check_dtype=False, obj=api)
    assert len(cycle["income"]) > stocks  # both periods, most stocks
    naive = steps * len(PERIODS) * stocks * len(T3)  # every stock, period, table, refresh
    record_property(
        "calls",
        {
            "cycle": calls,
            "naive": naive,
            "statement_runs": statement_runs,
            "steps": steps,
            "stocks": stocks,
        },
    )
    assert 0 < calls < naive / 8, (calls, naive, statement_runs)
