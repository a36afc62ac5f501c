"""DuckDBWarehouseIOManager under real Dagster runs: tiny assets over the real fixtures."""

import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from dagster import (
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    Config,
    DailyPartitionsDefinition,
    ExecuteInProcessResult,
    asset,
    materialize,
)

from tests.warehouse.conftest import FIXTURES, read_raw_csv
from twilight_resources.settings import reset_settings
from twilight_resources.warehouse import (
    DuckDBWarehouseIOManager,
    NormalizedBatch,
    WarehouseReader,
    WarehouseWriter,
    normalize_frame,
)
from twilight_resources.warehouse.raw import RawBatch
from twilight_resources.warehouse.rawfile import raw_path

DAYS = DailyPartitionsDefinition(start_date="2024-12-23", end_date="2025-01-01")
SOURCE = FIXTURES / "daily" / "600519.SH_jennyfzz.csv"
# Every run here materializes assets that read the real fixtures.
pytestmark = pytest.mark.shared_fixtures


@asset(
    key=["raw", "daily"],
    partitions_def=DAYS,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_daily(context: AssetExecutionContext) -> pd.DataFrame:
    """Stands in for the Tushare fetch: one request per trading day of the run's range."""
    wanted = {key.replace("-", ""): key for key in context.partition_keys}
    rows = read_raw_csv(SOURCE)
    rows = rows[rows["trade_date"].isin(wanted)].copy()
    rows["partition_key"] = rows["trade_date"].map(wanted)
    rows["request_params"] = [{"trade_date": d} for d in rows["trade_date"]]
    rows["fetched_at"] = pd.Timestamp.now(tz="UTC")
    return rows


@asset(
    key=["normalized", "daily"],
    partitions_def=DAYS,
    backfill_policy=BackfillPolicy.single_run(),
    ins={"raw": AssetIn(key=["raw", "daily"])},
)
def normalized_daily(raw: pd.DataFrame) -> NormalizedBatch:
    return normalize_frame("normalized_daily", raw)


class Skip(Config):
    held: list[str] = []  # partitions the warehouse already holds: not fetched again


@asset(
    key=["raw", "daily"],
    partitions_def=DAYS,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_daily_resuming(context: AssetExecutionContext, config: Skip) -> RawBatch:
    """Fetches only what is missing and says so, as the real raw assets do."""
    todo = [k for k in context.partition_keys if k not in config.held]
    wanted = {key.replace("-", ""): key for key in todo}
    rows = read_raw_csv(SOURCE)
    rows = rows[rows["trade_date"].isin(wanted)].copy()
    rows["partition_key"] = rows["trade_date"].map(wanted)
    return RawBatch(rows, tuple(todo))


@asset(key=["raw", "stock_basic"])
def raw_stock_basic() -> pd.DataFrame:
    rows = read_raw_csv(FIXTURES / "stock_basic" / "stock_basic_mrslimslim.csv").head(50)
    rows.loc[3, "list_date"] = "1991-13-01"
    return rows


@asset(key=["normalized", "stock_basic"], ins={"raw": AssetIn(key=["raw", "stock_basic"])})
def normalized_stock_basic(raw: pd.DataFrame) -> NormalizedBatch:
    return normalize_frame("normalized_stock_basic", raw)


def run(warehouse: Path, assets: list, **kwargs: Any) -> ExecuteInProcessResult:
    resources = {"io_manager": DuckDBWarehouseIOManager(path=str(warehouse))}
    result = materialize(assets, resources=resources, **kwargs)
    assert result.success
    return result


def fetch(warehouse: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_single_partition_run(warehouse: Path) -> None:
    result = run(warehouse, [raw_daily, normalized_daily], partition_key="2024-12-31")
    assert fetch(warehouse, "SELECT count(*) FROM normalized_daily") == [(1,)]
    events = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.materialization
    }
    meta = events["normalized/daily"]
    assert meta["inserted"].value == 1 and meta["table"].value == "normalized_daily"
    assert meta["partition_range"].value == "2024-12-31"
    assert "600519.SH" in meta["preview"].value and meta["file_size_bytes"].value > 0
    assert events["raw/daily"]["rows"].value == 1

    again = run(warehouse, [raw_daily, normalized_daily], partition_key="2024-12-31")
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in again.get_asset_materialization_events()
    }["normalized/daily"]
    assert (meta["inserted"].value, meta["unchanged"].value) == (0, 1)
    raw = raw_path(warehouse)
    assert fetch(raw, "SELECT count(*) FROM raw_daily") == [(2,)]  # raw keeps both fetches


def test_range_run_records_every_partition(warehouse: Path) -> None:
    run(
        warehouse,
        [raw_daily, normalized_daily],
        tags={
            "dagster/asset_partition_range_start": "2024-12-23",
            "dagster/asset_partition_range_end": "2024-12-31",
        },
    )
    assert fetch(warehouse, "SELECT count(*) FROM normalized_daily") == [(7,)]
    ledger = dict(
        fetch(
            warehouse,
            "SELECT partition_key, rows FROM meta_partition_latest "
            "WHERE table_name = 'normalized_daily' ORDER BY partition_key",
        )
    )
    assert len(ledger) == 9  # one row per partition of the range ...
    assert ledger["2024-12-28"] == 0 and ledger["2024-12-31"] == 1  # ... weekends included
    writes = fetch(
        warehouse,
        "SELECT count(DISTINCT write_id), any_value(run_id) IS NOT NULL FROM meta_partition_ledger "
        "WHERE table_name = 'normalized_daily'",
    )
    assert writes == [(1, True)]  # the whole range was one transaction


def test_unpartitioned_assets_and_quarantine(warehouse: Path) -> None:
    run(warehouse, [raw_stock_basic, normalized_stock_basic])
    assert fetch(warehouse, "SELECT count(*) FROM normalized_stock_basic") == [(49,)]
    assert fetch(warehouse, "SELECT partition_key, reason FROM meta_quarantine") == [
        ("", "list_date: cannot cast '1991-13-01' to DATE")
    ]
    ledger = "SELECT table_name, partition_key, rows, rejected FROM meta_partition_ledger"
    assert fetch(raw_path(warehouse), ledger) == [("raw_stock_basic", "", 50, 0)]
    assert fetch(warehouse, ledger) == [("normalized_stock_basic", "", 49, 1)]


def test_resuming_raw_asset_only_records_what_it_fetched(warehouse: Path) -> None:
    week = {
        "dagster/asset_partition_range_start": "2024-12-23",
        "dagster/asset_partition_range_end": "2024-12-27",
    }
    run(warehouse, [raw_daily_resuming], tags=week)
    held = ["2024-12-23", "2024-12-24", "2024-12-25"]
    config = {"ops": {"raw__daily": {"config": {"held": held}}}}
    run(warehouse, [raw_daily_resuming], tags=week, run_config=config)
    raw = raw_path(warehouse)
    writes = fetch(
        raw, "SELECT partition_key, count(*) FROM meta_partition_ledger GROUP BY ALL ORDER BY 1"
    )
    assert writes == [(k, 1) for k in held] + [("2024-12-26", 2), ("2024-12-27", 2)]
    everything = {"ops": {"raw__daily": {"config": {"held": held + ["2024-12-26", "2024-12-27"]}}}}
    run(warehouse, [raw_daily_resuming], tags=week, run_config=everything)  # nothing to write
    assert fetch(raw, "SELECT count(DISTINCT write_id) FROM meta_partition_ledger") == [(2,)]


def test_paths_and_limits_come_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TWILIGHT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TWILIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWILIGHT_DUCKDB_READ_POOL_SIZE", "2")
    monkeypatch.setenv("TWILIGHT_DUCKDB_WRITE_MEMORY_LIMIT", "300MB")
    reset_settings()
    try:
        result = materialize(
            [raw_stock_basic], resources={"io_manager": DuckDBWarehouseIOManager()}
        )
        assert result.success
        assert WarehouseWriter.from_settings().config["memory_limit"] == "300MB"
        writer = WarehouseWriter.from_settings()
        assert writer.raw_path == tmp_path / "home" / "warehouse" / "warehouse.raw.duckdb"
        assert len(writer.load_table("raw_stock_basic")) == 50
        with WarehouseReader.from_settings() as reader:
            assert reader.warehouse == tmp_path / "home" / "warehouse" / "warehouse.duckdb"
    finally:
        reset_settings()


@asset(key=["normalized", "stock_basic"], ins={"raw": AssetIn(key=["raw", "stock_basic"])})
def normalized_as_tuple(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return tuple(normalize_frame("normalized_stock_basic", raw))  # type: ignore[return-value]


@asset(key=["raw", "daily"], partitions_def=DAYS)
def raw_daily_elsewhere() -> RawBatch:
    return RawBatch(read_raw_csv(SOURCE).head(1), ("2024-12-24",))


def failure(warehouse: Path, assets: list, **kwargs: Any) -> str:
    resources = {"io_manager": DuckDBWarehouseIOManager(path=str(warehouse))}
    result = materialize(assets, resources=resources, raise_on_error=False, **kwargs)
    assert not result.success
    return "\n".join(
        e.step_failure_data.error.to_string()
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    )


def test_outputs_are_batches_not_tuples_nor_other_partitions(warehouse: Path) -> None:
    error = failure(warehouse, [raw_stock_basic, normalized_as_tuple])
    assert "returned tuple; the warehouse stores a DataFrame or a NormalizedBatch" in error
    error = failure(warehouse, [raw_daily_elsewhere], partition_key="2024-12-23")
    assert "the raw batch names partitions outside this run: ['2024-12-24']" in error
