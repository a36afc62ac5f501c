"""A run publishes one read snapshot, after its last normalized write; a run that ends early
leaves its writes to the CLI or the sensor, and readers that must see them do meanwhile."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance, build_sensor_context

from twilight_assets.partitions import trade_dates
from twilight_assets.publishing import publish_unpublished_writes
from twilight_assets.runner import keys_in_range, materialize_tables
from twilight_resources.settings import get_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.snapshots import deferred_since, read_pointer
from twilight_sim.server import SimServer

TABLES = ("daily", "adj_factor", "daily_basic")


def generation(warehouse: Path) -> int:
    info = read_pointer(warehouse)
    assert info is not None
    return info.generation


def counts(reader: WarehouseReader, tables: tuple[str, ...]) -> dict[str, int]:
    return {
        api: int(reader.records(f"SELECT count(*) AS n FROM normalized_{api}")[0]["n"])
        for api in tables
    }


def reference_then_days(instance: DagsterInstance, days: int) -> tuple[Path, list[str], int]:
    """The calendar and stock list written (and published); the warehouse, the first ``days``
    trade dates and the generation now current."""
    warehouse = get_settings().warehouse_file
    materialize_tables(["trade_cal", "stock_basic"], instance)
    return warehouse, keys_in_range(instance, trade_dates, "0", "9")[:days], generation(warehouse)


def test_a_run_of_three_tables_and_their_checks_publishes_once(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    """The cross-source check writes quality_diff too: whichever write of the run comes last,
    asset or check, publishes, and it publishes everything the run wrote."""
    warehouse, keys, before = reference_then_days(instance, 3)
    (result,) = materialize_tables(
        list(TABLES), instance, start=keys[0], end=keys[-1], with_checks=True
    )
    assert result.success
    assert generation(warehouse) == before + 1 and deferred_since(warehouse) is None
    published = {
        event.asset_key.path[1]: event.materialization.metadata.get("snapshot_generation")
        for event in result.get_asset_materialization_events()
        if event.asset_key.path[0] == "normalized"
    }
    # At most one normalized write of the three published: the run's last, unless the check
    # came after it.
    assert sorted(published) == sorted(TABLES)
    assert [g.value for g in published.values() if g is not None] in ([], [before + 1])
    # The checks ran on the run's rows, whether before the publish or after it.
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    read = {e.metadata["read"].value for e in evaluations if "read" in e.metadata}
    assert read and read <= {"warehouse file", f"snapshot g{before + 1}"}
    with WarehouseReader(warehouse, read_unpublished=False) as serving:
        assert all(n > 0 for n in counts(serving, TABLES).values())
        checked = serving.records("SELECT count(*) AS n FROM quality_diff")[0]["n"]
    with WarehouseReader(warehouse) as exact:  # what the run wrote is all in the snapshot
        assert exact.records("SELECT count(*) AS n FROM quality_diff")[0]["n"] == checked
        writes = exact.records(
            "SELECT DISTINCT table_name FROM meta_partition_ledger WHERE run_id = ?",
            [result.run_id],
        )
    assert {w["table_name"] for w in writes} >= {"normalized_daily", "quality_diff"}


def test_a_run_without_its_checks_publishes_at_its_last_asset(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    warehouse, keys, before = reference_then_days(instance, 2)
    materialize_tables(["daily", "adj_factor"], instance, start=keys[0], end=keys[-1])
    assert generation(warehouse) == before + 1 and deferred_since(warehouse) is None


def test_a_failed_run_is_published_by_the_sensor_and_read_exactly_meanwhile(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    warehouse, keys, before = reference_then_days(instance, 2)
    sim.set_policy(denied_apis=["adj_factor"])  # its raw step fails; daily's steps write
    (failed,) = materialize_tables(
        ["daily", "adj_factor"], instance, start=keys[0], end=keys[-1], raise_on_error=False
    )
    assert not failed.success
    assert generation(warehouse) == before and deferred_since(warehouse) is not None
    with WarehouseReader(warehouse, read_unpublished=False) as serving:
        assert counts(serving, ("daily",)) == {"daily": 0}
    with WarehouseReader(warehouse) as exact:
        assert exact.unpublished() and counts(exact, ("daily",))["daily"] > 0

    with build_sensor_context(instance=instance) as context:
        published = publish_unpublished_writes(context)
    assert "published generation" in str(published.skip_message)
    assert generation(warehouse) == before + 1 and deferred_since(warehouse) is None
    with WarehouseReader(warehouse, read_unpublished=False) as serving:
        assert counts(serving, ("daily",))["daily"] > 0
    with build_sensor_context(instance=instance) as context:
        idle = publish_unpublished_writes(context)
    assert "every committed write" in str(idle.skip_message)
