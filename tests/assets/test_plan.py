"""`twilight plan`: the cost of a backfill, computed by the same planners the assets run."""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from twilight_app.cli import main
from twilight_assets.runner import materialize_tables
from twilight_resources.calendar import load_calendar
from twilight_resources.catalog import CATALOG, range_keys
from twilight_resources.settings import get_settings
from twilight_sim.server import SimServer


def table_rows(out: str) -> dict[str, list[str]]:
    return {  # partitions, fetched, calls (then per-minute budget and minutes)
        line.split()[0]: line.split()[1:4]
        for line in out.splitlines()
        if line.split() and line.split()[0] in {"daily", "index_daily", "weekly"}
    }


def test_plan_counts_calls_and_what_is_already_fetched(
    platform: Path, sim: SimServer, instance: DagsterInstance, capsys
) -> None:
    args = ["plan", "--tables", "daily,index_daily,weekly", "--start", "20240601",
            "--end", "20240630"]  # fmt: skip
    assert main(args) == 0  # no calendar stored yet: asks the upstream for it (1 call)
    first = capsys.readouterr().out
    assert "asking the upstream" in first
    rows = table_rows(first)
    # June 2024: 19 trading days (Dragon Boat on the 10th), 4 completed week ends up to 28th.
    assert rows["daily"] == ["19", "0", "19"]
    assert rows["index_daily"] == ["19", "0", "5"]  # one call per tracked index for the range
    assert rows["weekly"][0] == "4"

    materialize_tables(["trade_cal", "daily"], instance, start="20240601", end="20240614")
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "asking the upstream" not in second
    rows = table_rows(second)
    assert rows["daily"] == ["19", "9", "10"]
    assert "total: 19 upstream calls" in second  # 10 daily + 5 index_daily + 4 weekly


def test_range_keys_are_the_partitions_trade_cal_registers(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    """For every table, the keys a plan and a range run count are the partitions of the range
    that ``normalized/trade_cal`` registered (holidays, weekends and open months left out)."""
    materialize_tables(["trade_cal"], instance)
    cal = load_calendar(get_settings())
    start, end = "20240505", "20240619"  # after Labour Day, before June's end
    for table in CATALOG:
        name = table.grain.partition_set
        registered = sorted(instance.get_dynamic_partitions(name)) if name else [""]
        expected = [k for k in registered if not name or start <= k <= end]
        assert range_keys(table, cal, start, end) == expected, table.api
