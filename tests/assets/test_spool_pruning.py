"""The fetch spool holds an answer only until its raw write has committed."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from twilight_assets.factory import fetch_partitions
from twilight_assets.partitions import trade_dates
from twilight_assets.runner import keys_in_range, materialize_tables
from twilight_assets.tables import TABLES
from twilight_resources.tushare import TushareResource
from twilight_resources.warehouse import WarehouseWriter
from twilight_sim.server import SimServer


def spooled(home: Path) -> list[Path]:
    return sorted((home / "spool").rglob("*.json"))


def test_a_backfill_leaves_no_answer_it_wrote_in_the_spool(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    materialize_tables(["trade_cal"], instance)
    keys = keys_in_range(instance, trade_dates, "0", "9")[:4]
    materialize_tables(["daily", "adj_factor"], instance, start=keys[0], end=keys[-1])
    assert sim.stats()["daily"] == 4
    assert spooled(platform) == []


def test_a_kill_after_the_commit_spends_no_call_twice(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    materialize_tables(["trade_cal"], instance)
    keys = keys_in_range(instance, trade_dates, "0", "9")[:3]
    daily, tushare = TABLES["daily"], TushareResource()
    batch, spend = fetch_partitions(daily, keys, tushare, refetch=False)
    assert spend["upstream_calls"] == 3 and len(batch.spooled) == 3
    assert all(path.exists() for path in batch.spooled)
    # Committed; the process dies before the IO manager deletes the spooled answers.
    WarehouseWriter.from_settings().write("raw_daily", batch.frame, batch.partition_keys)

    again, spend = fetch_partitions(daily, keys, tushare, refetch=False)
    assert (spend["upstream_calls"], spend["skipped_partitions"]) == (0, 3)
    assert again.partition_keys == () and again.frame.empty
    assert spooled(platform) == []  # the ledger shows them written: spent
    assert sim.stats()["daily"] == 3
