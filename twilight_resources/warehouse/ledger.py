"""Partition ledger and id counters, written inside the same transaction as the data.

Readers use the ledger to tell whether the warehouse covers a request: a partition with a
ledger row was fetched (possibly empty); a partition without one was never fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from twilight_resources.warehouse.frames import registered

# Latest ledger row per partition of one table: what the warehouse holds now.
PARTITIONS_SQL = (
    "SELECT partition_key, written_at, rows, write_id, run_id FROM meta_partition_latest "
    "WHERE table_name = ? ORDER BY partition_key"
)
MISSING_SQL = (
    "SELECT k AS partition_key FROM unnest(CAST(? AS VARCHAR[])) AS t(k) "
    "WHERE k NOT IN (SELECT partition_key FROM meta_partition_ledger WHERE table_name = ?) "
    "ORDER BY k"
)


@dataclass
class PartitionCounts:
    """What one write did to one partition."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    raw_id_min: int | None = None
    raw_id_max: int | None = None


def allocate(conn: duckdb.DuckDBPyConnection, counter: str, n: int) -> int:
    """Reserve ``n`` consecutive ids from ``counter``; return the first. Rolls back with the
    transaction, and writers are serialized, so blocks never overlap."""
    row = conn.execute(
        "INSERT INTO meta_counters VALUES (?, ?) ON CONFLICT (name) "
        "DO UPDATE SET value = meta_counters.value + excluded.value RETURNING value",
        [counter, n],
    ).fetchone()
    assert row is not None
    return int(row[0]) - n + 1


def record_write(
    conn: duckdb.DuckDBPyConnection,
    *,
    table: str,
    write_id: int,
    written_at: datetime,
    counts: Mapping[str, PartitionCounts],
    run_id: str | None,
    asset_key: str | None,
) -> None:
    """One ledger row per partition key of the write, including partitions with no rows."""
    frame = pd.DataFrame(
        [{"partition_key": key, **vars(c)} for key, c in counts.items()],
        columns=["partition_key", *vars(PartitionCounts()).keys()],
    )
    with registered(conn, "ledger_rows", frame):
        conn.execute(
            "INSERT INTO meta_partition_ledger BY NAME SELECT ? AS table_name, "
            "CAST(partition_key AS VARCHAR) AS partition_key, ? AS write_id, "
            "CAST(? AS TIMESTAMP) AS written_at, ? AS run_id, ? AS asset_key, "
            "CAST(rows AS BIGINT) AS rows, CAST(inserted AS BIGINT) AS inserted, "
            "CAST(updated AS BIGINT) AS updated, CAST(unchanged AS BIGINT) AS unchanged, "
            "CAST(rejected AS BIGINT) AS rejected, CAST(raw_id_min AS BIGINT) AS raw_id_min, "
            "CAST(raw_id_max AS BIGINT) AS raw_id_max FROM ledger_rows",
            [table, write_id, written_at, run_id, asset_key],
        )
