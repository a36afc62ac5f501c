"""The raw layer's own file: a single-file warehouse moves its raw tables there once."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from tests.warehouse.conftest import daily_rows
from twilight_resources.warehouse import WarehouseWriter
from twilight_resources.warehouse.locking import write_lock
from twilight_resources.warehouse.rawfile import open_raw, raw_path
from twilight_resources.warehouse.schema import raw_file_sql

KEYS = ["20240102", "20240103"]


def rows(codes: list[str]) -> pd.DataFrame:
    """normalized_daily rows of ``codes`` on both days, each naming its partition."""
    frame = daily_rows(codes, KEYS)
    return frame.assign(partition_key=frame["trade_date"].dt.strftime("%Y%m%d"))


def raw_rows(codes: list[str]) -> pd.DataFrame:
    return rows(codes).drop(columns=["source", "raw_id"])


def fetch(path: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def single_file(writer: WarehouseWriter) -> list[tuple]:
    """Turn the two files into one, as a warehouse written before the split; its raw rows."""
    raw = writer.raw_path
    conn = duckdb.connect(str(writer.path))
    try:
        conn.execute(f"ATTACH '{raw}' AS r (READ_ONLY)")
        conn.execute(raw_file_sql()["raw_daily"])
        conn.execute("INSERT INTO raw_daily SELECT * FROM r.raw_daily")
        conn.execute(
            "INSERT INTO meta_partition_ledger SELECT * FROM r.meta_partition_ledger "
            "WHERE table_name = 'raw_daily'"
        )
        conn.execute(
            "INSERT OR REPLACE INTO meta_counters SELECT * FROM r.meta_counters "
            "WHERE name = 'raw_id'"
        )
        rows = conn.execute("SELECT * FROM raw_daily ORDER BY raw_id").fetchall()
        conn.execute("DETACH r")
    finally:
        conn.close()
    raw.unlink()
    return rows


def test_raw_writes_go_to_their_own_file_and_publish_nothing(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    result = writer.write("raw_daily", raw_rows(["a", "b"]), KEYS)
    assert result.snapshot is None and result.publish_seconds == 0.0
    assert not warehouse.exists()  # the warehouse file is untouched by raw writes
    assert writer.raw_path == warehouse.with_name("warehouse.raw.duckdb")
    assert fetch(writer.raw_path, "SELECT count(*) FROM raw_daily") == [(4,)]
    assert writer.raw_partitions("raw_daily")["rows"].tolist() == [2, 2]


def test_a_single_file_warehouse_moves_its_raw_layer_once(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    writer.write("raw_daily", raw_rows(["a", "b"]), KEYS)
    writer.write("normalized_daily", rows(["a", "b"]), KEYS)
    old = single_file(writer)
    tables = "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, 'raw_')"
    assert fetch(warehouse, tables) == [("raw_daily",)]

    # Reading raw moves it: the rows, their ledger and the raw_id counter.
    loaded = writer.load_raw("raw_daily", KEYS)
    assert len(loaded) == len(old) == 4
    assert fetch(writer.raw_path, "SELECT * FROM raw_daily ORDER BY raw_id") == old
    assert writer.raw_partitions("raw_daily")["rows"].tolist() == [2, 2]
    # ... and the next open of the warehouse file drops them there, with their ledger rows.
    writer.write("normalized_daily", rows(["c"]), KEYS)
    assert fetch(warehouse, tables) == []
    ledger = "SELECT DISTINCT table_name FROM meta_partition_ledger ORDER BY 1"
    assert fetch(warehouse, ledger) == [("normalized_daily",)]
    assert fetch(writer.raw_path, ledger) == [("raw_daily",)]
    newer = writer.write("raw_daily", raw_rows(["c"]), KEYS)
    ids = fetch(writer.raw_path, "SELECT min(raw_id), max(raw_id), count(*) FROM raw_daily")
    assert ids == [(1, 6, 6)] and newer.inserted == 2  # the counter came along


def test_a_kill_between_copy_and_drop_copies_nothing_twice(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    writer.write("raw_daily", raw_rows(["a", "b"]), KEYS)
    writer.write("normalized_daily", rows(["a"]), KEYS)
    single_file(writer)
    with write_lock(warehouse, 10):  # the copy commits; the process dies before the drop
        open_raw(warehouse, {}, 10).close()
    tables = "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, 'raw_')"
    assert fetch(warehouse, tables) == [(1,)]

    writer.write("normalized_daily", rows(["b"]), KEYS)
    assert fetch(warehouse, tables) == [(0,)]
    assert fetch(raw_path(warehouse), "SELECT count(*) FROM raw_daily") == [(4,)]
    assert len(writer.load_raw("raw_daily", KEYS)) == 4
