"""WarehouseReader: snapshots only, switching on publish, surviving vanished snapshots."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.warehouse.conftest import daily_rows
from twilight_resources.warehouse import (
    SnapshotInfo,
    SnapshotUnavailableError,
    WarehouseReader,
    WarehouseWriter,
    publish_snapshot,
    read_pointer,
)
from twilight_resources.warehouse import reader as reader_module
from twilight_resources.warehouse.snapshots import snapshot_dir

COUNT = "SELECT count(*) AS n FROM normalized_daily"


def test_nothing_published_yet(warehouse: Path) -> None:
    with WarehouseReader(warehouse) as reader, pytest.raises(SnapshotUnavailableError):
        reader.query("SELECT 1")


def test_fresh_warehouse_publishes_empty_schema(warehouse: Path) -> None:
    publish_snapshot(warehouse)
    with WarehouseReader(warehouse) as reader:
        assert reader.query(COUNT)["n"].item() == 0
        assert reader.missing_partitions("normalized_daily", ["a"]) == ["a"]


def test_reader_follows_publishes_and_keeps_two(writer: WarehouseWriter, warehouse: Path) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]), ["d1"])
    with WarehouseReader(warehouse, pool_size=2) as reader:
        first = reader.snapshot_info()
        assert reader.query(COUNT)["n"].item() == 1
        writer.write("normalized_daily", daily_rows(["a"], ["20240103"]), ["d2"])
        writer.write("normalized_daily", daily_rows(["a"], ["20240104"]), ["d3"])
        assert not first.path.exists()  # superseded twice: deleted ...
        assert reader.query(COUNT)["n"].item() == 3  # ... and the reader moved on
        info = reader.snapshot_info()
        assert info.generation == first.generation + 2 and 0 <= info.age_seconds < 60
        assert sorted(p.name for p in snapshot_dir(warehouse).glob("warehouse-g*")) == [
            f"warehouse-g{g:08d}" for g in (info.generation - 1, info.generation)
        ]
        assert (
            reader.query(
                "SELECT close FROM normalized_daily WHERE ts_code = ? AND trade_date = ?",
                ["a", "2024-01-04"],
            )["close"]
            .notna()
            .all()
        )
        assert reader.partitions("normalized_daily")["partition_key"].tolist() == [
            "d1",
            "d2",
            "d3",
        ]
        assert reader.missing_partitions("normalized_daily", ["d2", "d4"]) == ["d4"]


def test_vanished_snapshot_makes_reader_reread_pointer(
    writer: WarehouseWriter, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    real = read_pointer(warehouse)
    assert real is not None
    gone = SnapshotInfo(real.path.with_name("warehouse-g00000099.duckdb"), 99, real.published_at, 0)
    answers = iter([gone, real])
    monkeypatch.setattr(reader_module, "read_pointer", lambda _: next(answers))
    with WarehouseReader(warehouse) as reader:
        assert reader.query(COUNT)["n"].item() == 1
        assert reader.snapshot_info().generation == real.generation


def test_threads_query_while_snapshots_switch(writer: WarehouseWriter, warehouse: Path) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240101"]))
    errors: list[BaseException] = []
    stop = threading.Event()
    with WarehouseReader(warehouse, pool_size=2) as reader:

        def hammer() -> None:
            while not stop.is_set():
                try:
                    reader.query(COUNT)
                except BaseException as exc:  # collected and asserted below
                    errors.append(exc)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for day in range(2, 8):
            writer.write("normalized_daily", daily_rows(["a"], [f"202401{day:02d}"]))
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        assert reader.query(COUNT)["n"].item() == 7


def test_watching_reader_switches_in_the_background(
    writer: WarehouseWriter, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240101"]))
    opened_by: list[tuple[str, int]] = []  # thread name, its niceness
    real_init = reader_module._Pool.__init__

    def recording_init(self: reader_module._Pool, *args: object) -> None:
        tid = threading.get_native_id()
        opened_by.append((threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, tid)))
        real_init(self, *args)

    monkeypatch.setattr(reader_module._Pool, "__init__", recording_init)
    with WarehouseReader(warehouse, watch_interval=0.02) as reader:
        assert reader.query(COUNT)["n"].item() == 1  # the first pool: opened on demand
        for day in range(2, 5):
            writer.write("normalized_daily", daily_rows(["a"], [f"202401{day:02d}"]))
            deadline = time.monotonic() + 10
            while reader.query(COUNT)["n"].item() < day and time.monotonic() < deadline:
                time.sleep(0.01)
            assert reader.query(COUNT)["n"].item() == day
    here = threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, 0)
    assert opened_by[0] == here
    # Switching is housekeeping: it yields the CPU to the threads answering queries.
    watcher = ("snapshot-watch", max(here[1], reader_module.HOUSEKEEPING_NICENESS))
    assert opened_by[1:] and set(opened_by[1:]) == {watcher}


def test_watching_reader_switches_at_most_once_per_switch_interval(
    writer: WarehouseWriter, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of publishes costs a serving reader one switch per interval, and it still ends
    on the newest snapshot; the first snapshot after a quiet spell is served at once."""
    writer.write("normalized_daily", daily_rows(["a"], ["20240101"]))
    opened: list[float] = []
    real_init = reader_module._Pool.__init__

    def recording_init(self: reader_module._Pool, *args: object) -> None:
        opened.append(time.monotonic())
        real_init(self, *args)

    monkeypatch.setattr(reader_module._Pool, "__init__", recording_init)
    interval = 1.0
    with WarehouseReader(warehouse, watch_interval=0.02, switch_interval=interval) as reader:
        assert reader.query(COUNT)["n"].item() == 1
        time.sleep(interval)  # a quiet spell
        published: list[float] = []
        for day in range(2, 8):
            writer.write("normalized_daily", daily_rows(["a"], [f"202401{day:02d}"]))
            published.append(time.monotonic())
        newest = read_pointer(warehouse).generation
        deadline = time.monotonic() + 10 * interval
        while reader.snapshot_info().generation < newest:
            assert time.monotonic() < deadline, "the newest snapshot was never served"
            time.sleep(0.02)
        assert reader.query(COUNT)["n"].item() == 7
    switches = opened[1:]
    assert switches[0] - published[0] < interval  # not held back after a quiet spell
    assert all(b - a >= interval for a, b in zip(switches, switches[1:], strict=False))


LOADED = (
    "SELECT coalesce(sum(memory_usage_bytes), 0) AS b FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
)


def test_watching_reader_warms_a_new_snapshot_before_serving_it(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    """A serving reader loads the tables it serves into each new pool before switching to it
    (first loads into fresh memory are dear); other readers load on demand. Tables a snapshot
    lacks are skipped."""
    writer.write("normalized_daily", daily_rows(["a", "b"], ["20240102", "20240103"]))
    tables = ["no_such_table", "normalized_daily"]
    with WarehouseReader(warehouse, warm_tables=tables) as other:
        opened = other.query(LOADED)["b"].item()  # the catalog's blocks, no table data
        assert other.query(COUNT)["n"].item() == 4
    with WarehouseReader(warehouse, watch_interval=0.02, warm_tables=tables) as serving:
        assert serving.query(LOADED)["b"].item() > opened  # before any query read the table
        generation = serving.snapshot_info().generation
        writer.write("normalized_daily", daily_rows(["a"], ["20240104"]))
        deadline = time.monotonic() + 10
        while serving.snapshot_info().generation == generation:
            assert time.monotonic() < deadline, "the reader never switched"
            time.sleep(0.01)
        assert serving.query(LOADED)["b"].item() > opened  # the new pool, warmed before use
        assert serving.query(COUNT)["n"].item() == 5


def test_a_snapshot_that_cannot_be_warmed_is_served_cold(
    writer: WarehouseWriter,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    monkeypatch.setattr(reader_module, "_MEMORY_UNITS", {})  # DuckDB's unit not understood
    with WarehouseReader(warehouse, watch_interval=0.02, warm_tables=["normalized_daily"]) as r:
        assert r.query(COUNT)["n"].item() == 1
    assert "served without warming" in caplog.text


def test_open_connection_outlives_its_deleted_snapshot(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    with WarehouseReader(warehouse) as reader:
        pool = reader._acquire()  # a query that started on the old snapshot ...
        with pool.connection() as conn:
            for day in ("20240103", "20240104"):
                writer.write("normalized_daily", daily_rows(["a"], [day]))
            assert not pool.info.path.exists()  # ... whose file is now deleted
            assert conn.execute(COUNT).fetchone() == (1,)  # ... still finishes on it
        assert reader.query(COUNT)["n"].item() == 3


def test_publish_clears_leftovers_of_a_killed_publish(warehouse: Path) -> None:
    publish_snapshot(warehouse)
    leftover = snapshot_dir(warehouse) / ".tmp-warehouse-g00000002"
    leftover.mkdir()
    (leftover / "normalized_daily.y2024.duckdb").write_bytes(b"half a copy")
    info = publish_snapshot(warehouse)
    assert not leftover.exists() and info.generation == 2


def test_a_damaged_current_snapshot_falls_back_to_the_previous(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    writer.write("normalized_daily", daily_rows(["000001.SZ"], ["20240102"]))
    writer.write("normalized_daily", daily_rows(["600519.SH"], ["20240102"]))
    current = read_pointer(warehouse)
    assert current is not None and current.generation == 2
    part = current.path / "normalized_daily.y2024.duckdb"
    size = part.stat().st_size
    part.unlink()  # not written in place: the previous generation shares the file
    part.write_bytes(b"\x17" * size)  # same name and size, not DuckDB
    with WarehouseReader(warehouse) as reader:
        assert reader.query(COUNT)["n"].iloc[0] == 1
        assert reader.snapshot_info().generation == 1
    writer.write("normalized_daily", daily_rows(["600000.SH"], ["20240102"]))
    with WarehouseReader(warehouse) as reader:
        assert reader.query(COUNT)["n"].iloc[0] == 3
