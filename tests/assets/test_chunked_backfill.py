"""`twilight backfill`: a range as overlapped chunk runs, each partition fetched once, resumable."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from tests.assets.test_backfill_resume import REPO, cli_env, materialize_cli
from twilight_assets.backfill import plan_chunks
from twilight_assets.partitions import trade_dates
from twilight_assets.runner import keys_in_range, materialize_tables
from twilight_resources.calendar import TradingCalendar, from_key
from twilight_resources.warehouse import WarehouseReader
from twilight_sim.server import SimServer

TABLES = ("daily", "adj_factor")


def tables(home: Path) -> dict[str, pd.DataFrame]:
    with WarehouseReader(home / "warehouse" / "warehouse.duckdb") as reader:
        return {
            api: reader.query(f"SELECT * FROM normalized_{api} ORDER BY ts_code, trade_date").drop(
                columns=["ingested_at", "raw_id"]
            )
            for api in TABLES
        }


def backfill(env: dict[str, str], start: str, end: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "twilight_app",
        "backfill",
        "--tables",
        ",".join(TABLES),
        "--start",
        start,
        "--end",
        end,
        "--chunk",
        "4",
        "--parallel",
        "2",
    ]
    return subprocess.run(  # fmt: skip
        cmd,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )


def test_chunks_fetch_each_partition_once_and_a_rerun_starts_nothing(
    tmp_path: Path, sim: SimServer, platform: Path, instance: DagsterInstance
) -> None:
    # Reference: the same range as one in-process run, in the platform home.
    materialize_tables(["trade_cal"], instance)
    keys = keys_in_range(instance, trade_dates, "0", "9")[:9]
    materialize_tables(list(TABLES), instance, start=keys[0], end=keys[-1])
    expected = tables(platform)

    home = tmp_path / "chunked"
    env = cli_env(home, sim)
    assert materialize_cli(env, "raw/trade_cal,normalized/trade_cal").wait(timeout=180) == 0
    sim.reset_stats()
    done = backfill(env, keys[0], keys[-1])
    assert done.returncode == 0, done.stderr[-2000:]
    # Equal chunks, then shrinking ones: the last chunk's tail runs with nothing to overlap it.
    assert "4 chunks of up to 4 partitions, 0 already in the warehouse" in done.stdout
    # Progress off a terminal: status lines (calls of the total, rate, ETA) and a summary.
    assert re.search(r"^backfill: \d+/18 calls, \d+ calls/min, .*ETA", done.stdout, re.M)
    rows = {api: len(frame) for api, frame in expected.items()}
    assert (f"backfill complete: 18 calls, 9 partitions; rows: adj_factor {rows['adj_factor']:,}, "
            f"daily {rows['daily']:,}") in done.stdout  # fmt: skip
    assert {api: sim.stats().get(api) for api in TABLES} == {api: len(keys) for api in TABLES}
    for api, frame in tables(home).items():
        pd.testing.assert_frame_equal(frame, expected[api])

    with DagsterInstance.from_config(str(home / "dagster")) as chunked:
        runs = [r for r in chunked.get_runs() if ASSET_PARTITION_RANGE_START_TAG in r.tags]
        assert sorted((r.tags[ASSET_PARTITION_RANGE_START_TAG],
                       r.tags[ASSET_PARTITION_RANGE_END_TAG]) for r in runs) == [
            (keys[0], keys[2]), (keys[3], keys[5]), (keys[6], keys[7]), (keys[8], keys[8])
        ]  # fmt: skip
        assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}

    # The warehouse holds every chunk: a rerun starts no run and spends no call.
    sim.reset_stats()
    again = backfill(env, keys[0], keys[-1])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "4 already in the warehouse" in again.stdout and "started" not in again.stdout
    assert sim.stats() == {}


def test_a_failed_chunk_stops_new_launches_and_says_to_rerun(
    tmp_path: Path, sim: SimServer, platform: Path, instance: DagsterInstance
) -> None:
    home = tmp_path / "failing"
    env = cli_env(home, sim)
    assert materialize_cli(env, "raw/trade_cal,normalized/trade_cal").wait(timeout=180) == 0
    materialize_tables(["trade_cal"], instance)
    keys = keys_in_range(instance, trade_dates, "0", "9")[:9]
    env["TWILIGHT_TUSHARE_API_URL"] = "http://127.0.0.1:9"  # nothing listens: every call fails
    env["TWILIGHT_RETRY_ATTEMPTS"] = "0"
    failed = backfill(env, keys[0], keys[-1])
    assert failed.returncode == 1
    assert "rerun the same command to resume" in failed.stderr
    # Two chunks were running when the first failed; the third was never started.
    assert failed.stdout.count("started ") == 2 and failed.stdout.count("FAILED ") == 2


def test_tables_of_one_backfill_share_their_partitioning() -> None:
    cal = TradingCalendar([from_key("20240102"), from_key("20240103"), from_key("20240104")])
    assert [c.keys for c in plan_chunks(["daily"], "20240101", "20240131", 2, cal)] == [
        ("20240102", "20240103"), ("20240104",)
    ]  # fmt: skip
    # 100: equal chunks of at most 100, then 86, 57, 38 and 25 (each 2/3 of the one before).
    year = TradingCalendar([from_key("20230101") + timedelta(days=i) for i in range(484)])
    sizes = [len(c.keys) for c in plan_chunks(["daily"], "20230101", "20250101", 100, year)]
    assert sizes == [93, 92, 93, 86, 57, 38, 25]
    with pytest.raises(ValueError, match="share one partitioning"):
        plan_chunks(["daily", "weekly"], "20240101", "20240131", 2, cal)
    with pytest.raises(ValueError, match="unknown tables"):
        plan_chunks(["dialy"], "20240101", "20240131", 2, cal)
