"""Subprocess entry points for the multi-process tests: ``python -m tests.warehouse.workers``.

Each command is a separate interpreter, i.e. a separate DuckDB process, as Dagster steps, the
read sidecar and the MCP server are in production.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetIn, StaticPartitionsDefinition, asset, materialize

from tests.warehouse.conftest import daily_rows
from twilight_resources.warehouse import (
    DuckDBWarehouseIOManager,
    NormalizedBatch,
    WarehouseReader,
    WarehouseWriter,
    normalize_frame,
    snapshots,
)
from twilight_resources.warehouse.locking import connect_writable, write_lock
from twilight_resources.warehouse.snapshots import MANIFEST, TMP_PREFIX, pointer_path


def synthetic_raw(partition: str, rows: int) -> pd.DataFrame:
    """Raw daily text for one trade date and ``rows`` made-up stocks."""
    rng = np.random.default_rng(int(partition))
    frame = pd.DataFrame(
        {
            "ts_code": [f"{i:06d}.SZ" for i in range(rows)],
            "trade_date": partition,
            "close": rng.uniform(1, 100, rows).round(2).astype(str),
            "vol": rng.uniform(1, 1e6, rows).round(2).astype(str),
        }
    )
    frame["partition_key"] = partition
    frame["request_params"] = json.dumps({"trade_date": partition})
    return frame


PARTS = StaticPartitionsDefinition(["20240102", "20240103", "20240104"])


@asset(key=["raw", "daily"], partitions_def=PARTS)
def raw_daily(context: AssetExecutionContext) -> pd.DataFrame:
    return synthetic_raw(context.partition_key, int(os.environ["WORKER_ROWS"]))


@asset(key=["normalized", "daily"], partitions_def=PARTS, ins={"raw": AssetIn(["raw", "daily"])})
def normalized_daily(raw: pd.DataFrame) -> NormalizedBatch:
    return normalize_frame("normalized_daily", raw)


def materialize_pair(warehouse: str, partition: str, rows: str) -> None:
    """One Dagster run writing raw + normalized rows for one partition."""
    os.environ["WORKER_ROWS"] = rows
    io = DuckDBWarehouseIOManager(path=warehouse, lock_timeout_seconds=120)
    result = materialize(
        [raw_daily, normalized_daily], partition_key=partition, resources={"io_manager": io}
    )
    print(json.dumps({"success": result.success}))


def big_write(warehouse: str, layer: str, rows: str) -> None:
    """A write large enough to be killed mid-transaction; says when it starts."""
    n = int(rows)
    codes = [f"{i:06d}.SH" for i in range(n // 100)]
    dates = [f"2023{m:02d}{d:02d}" for m in range(1, 11) for d in range(1, 11)]
    frame = daily_rows(codes, dates, seed=7)
    if layer == "raw":
        frame = frame.drop(columns=["source", "raw_id"])  # the writer makes it text
    writer = WarehouseWriter(warehouse, threads=1, publish=False)
    print("writing", flush=True)
    writer.write(f"{layer}_daily", frame, ["big"])
    print("done", flush=True)


def reader_loop(warehouse: str, stop_file: str) -> None:
    """Query until ``stop_file`` exists; report errors and the row counts seen."""
    reader = WarehouseReader(warehouse, pool_size=2)
    queries, errors, counts, first_error = 0, 0, [], None
    while True:
        stopping = os.path.exists(stop_file)
        try:
            n = reader.query(
                "SELECT count(*) AS n FROM normalized_daily WHERE trade_date >= ?", ["2020-01-01"]
            )["n"].item()
            counts.append(int(n))
        except Exception as exc:  # every failure counts
            errors += 1
            first_error = first_error or repr(exc)
        queries += 1
        if stopping:
            break
    reader.close()
    print(
        json.dumps(
            {
                "queries": queries,
                "errors": errors,
                "counts": sorted(set(counts)),
                "last": counts[-1] if counts else None,
                "first_error": first_error,
            }
        )
    )


def hold_file(warehouse: str, seconds: str) -> None:
    """Hold DuckDB's own lock on the warehouse like a foreign process (e.g. the CLI) would."""
    conn = duckdb.connect(warehouse)
    print("holding", flush=True)
    time.sleep(float(seconds))
    conn.close()


def commit_then_die(warehouse: str) -> None:
    """Commit rows and die before any checkpoint: the data lives only in the WAL."""
    writer = WarehouseWriter(warehouse, publish=False)
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    conn = duckdb.connect(warehouse)
    conn.execute("INSERT INTO meta_counters VALUES ('wal_only', 42)")
    os._exit(0)


POINTER_TMP = f"{TMP_PREFIX}{pointer_path(Path('warehouse.duckdb')).name}"


def publish_killed_at(warehouse: str, step: str) -> None:
    """Publish the dirty parts, SIGKILLed at ``step``: ``part:N`` (after the Nth exported part),
    ``manifest``, ``pointer`` (before either is written), ``clear`` (after the pointer, before the
    dirty marks are cleared) or ``collect`` (before old generations are removed)."""
    path = Path(warehouse)
    exported = 0

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def export_part(*args: Any) -> Any:
        nonlocal exported
        part = real_export(*args)
        exported += 1
        if step == f"part:{exported}":
            die()
        return part

    def write_durably(target: Path, data: bytes) -> None:
        if (step, target.name) in {("manifest", MANIFEST), ("pointer", POINTER_TMP)}:
            die()
        real_write(target, data)

    def at(name: str, real: Any) -> Any:
        def wrapped(*args: Any) -> Any:
            if step == name:
                die()
            return real(*args)

        return wrapped

    real_export, real_write = snapshots._export_part, snapshots._write_durably
    snapshots._export_part = export_part
    snapshots._write_durably = write_durably
    snapshots.parts.clear = at("clear", snapshots.parts.clear)
    snapshots._collect = at("collect", snapshots._collect)
    with write_lock(path, 60.0, writer=True):
        conn = connect_writable(path, {}, 60.0)
        snapshots.publish_locked(path, conn)
    print("published")


COMMANDS = {
    "publish_killed_at": publish_killed_at,
    "materialize": materialize_pair,
    "big_write": big_write,
    "reader_loop": reader_loop,
    "hold_file": hold_file,
    "commit_then_die": commit_then_die,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
