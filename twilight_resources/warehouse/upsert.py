"""The normalized write path: PRIMARY-KEY upsert with insert/update/unchanged counts.

Incoming rows are cast to the table's types, de-duplicated on the key (last row wins) and
classified against the table in one join: new keys are inserted (in key order, so appended
rows are themselves sorted), keys whose values differ are updated in place, identical rows
are left alone so their ``ingested_at`` and ``raw_id`` keep pointing at the first ingestion.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd

from twilight_resources.warehouse.frames import registered, with_partition_keys
from twilight_resources.warehouse.ledger import PartitionCounts
from twilight_resources.warehouse.normalize import REJECT_COLUMNS
from twilight_resources.warehouse.schema import TableSpec, quote

LINEAGE_IN = ("raw_id", "source", "partition_key")
INSERT, UPDATE, UNCHANGED = 1, 2, 0
# The temp table of an upsert's rows, each with its ``_action``; it outlives the upsert within
# the transaction, for tables derived from the rows it changed (statement_rows).
CLASSIFIED = "classified"


def _check_columns(spec: TableSpec, frame: pd.DataFrame) -> list[str]:
    """The data columns ``frame`` provides; raises on anything the table cannot hold."""
    unknown = [c for c in frame.columns if c not in spec.data_columns and c not in LINEAGE_IN]
    if unknown:
        raise ValueError(f"{spec.name} has no columns {unknown}; unknown fields belong in raw")
    if frame.empty:
        return [c for c in spec.data_columns if c in frame.columns]
    missing = [c for c in (*spec.primary_key, "source") if c not in frame.columns]
    if missing:
        raise ValueError(f"rows for {spec.name} lack required columns {missing}")
    return [c for c in spec.data_columns if c in frame.columns]


def _stage(
    conn: duckdb.DuckDBPyConnection, spec: TableSpec, columns: list[str], dedup: bool
) -> None:
    casts = "".join(f"CAST({quote(c)} AS {spec.columns[c]}) AS {quote(c)}, " for c in columns)
    key = ", ".join(quote(c) for c in spec.primary_key)
    last_wins = f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _row DESC) = 1"
    incoming = (
        f"SELECT {casts}CAST(raw_id AS BIGINT) AS raw_id, CAST(source AS VARCHAR) AS source, "
        f"partition_key, _row FROM normalized_frame {last_wins if dedup else ''}"
    )
    match = " AND ".join(f"i.{quote(c)} = t.{quote(c)}" for c in spec.primary_key)
    values = [c for c in columns if c not in spec.primary_key]
    differs = " OR ".join(f"i.{quote(c)} IS DISTINCT FROM t.{quote(c)}" for c in values)
    # One statement: the cast rows are joined as they are cast, not stored and read again.
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE {CLASSIFIED} AS WITH incoming AS ({incoming}) "
        f"SELECT i.*, CASE WHEN t.{quote(spec.primary_key[0])} IS NULL THEN {INSERT} "
        f"WHEN {differs or 'FALSE'} THEN {UPDATE} ELSE {UNCHANGED} END AS _action "
        f"FROM incoming i LEFT JOIN {spec.name} t ON {match}"
    )


def _apply(
    conn: duckdb.DuckDBPyConnection, spec: TableSpec, columns: list[str], now: datetime
) -> None:
    names = "".join(f"{quote(c)}, " for c in columns)
    key = ", ".join(quote(c) for c in spec.primary_key)
    conn.execute(
        f"INSERT INTO {spec.name} ({names}source, ingested_at, raw_id) "
        f"SELECT {names}source, ?, raw_id FROM {CLASSIFIED} WHERE _action = {INSERT} "
        f"ORDER BY {key}",
        [now],
    )
    values = [c for c in columns if c not in spec.primary_key]
    if not values:
        return
    sets = "".join(f"{quote(c)} = u.{quote(c)}, " for c in values)
    match = " AND ".join(f"{spec.name}.{quote(c)} = u.{quote(c)}" for c in spec.primary_key)
    conn.execute(
        f"UPDATE {spec.name} SET {sets}source = u.source, ingested_at = ?, raw_id = u.raw_id "
        f"FROM {CLASSIFIED} u WHERE u._action = {UPDATE} AND {match}",
        [now],
    )


def _quarantine(
    conn: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    rejects: pd.DataFrame,
    keys: Sequence[str],
    *,
    now: datetime,
    write_id: int,
    run_id: str | None,
) -> dict[str, int]:
    """Store rejected rows (a raw row rejected again for the same reason is kept once)."""
    if "reason" not in rejects.columns:
        raise ValueError("rejects need at least a 'reason' column")
    frame = rejects.reindex(columns=list(REJECT_COLUMNS)).astype(object)
    if len(keys) == 1:
        frame["partition_key"] = frame["partition_key"].fillna(keys[0])
    with registered(conn, "reject_frame", frame):
        conn.execute(
            "INSERT INTO meta_quarantine SELECT ?, CAST(r.partition_key AS VARCHAR), "
            "CAST(r.raw_id AS BIGINT), CAST(r.reason AS VARCHAR), CASE WHEN "
            "json_valid(CAST(r.raw_row AS VARCHAR)) THEN CAST(r.raw_row AS JSON) "
            "ELSE to_json(CAST(r.raw_row AS VARCHAR)) END, ?, ?, ? FROM reject_frame r "
            "WHERE NOT EXISTS (SELECT 1 FROM meta_quarantine q WHERE q.table_name = ? "
            "AND q.raw_id = CAST(r.raw_id AS BIGINT) AND q.reason = r.reason)",
            [spec.name, now, write_id, run_id, spec.name],
        )
    return {str(k): int(n) for k, n in frame.groupby("partition_key").size().items()}


def upsert_normalized(
    conn: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    frame: pd.DataFrame,
    keys: Sequence[str],
    *,
    rejects: pd.DataFrame | None,
    now: datetime,
    write_id: int,
    run_id: str | None,
) -> dict[str, PartitionCounts]:
    """Upsert ``frame`` into ``spec``'s table inside the caller's transaction."""
    columns = _check_columns(spec, frame)
    counts = {key: PartitionCounts() for key in keys}
    if not frame.empty:
        staged = with_partition_keys(frame, keys)
        if "raw_id" not in staged.columns:
            staged["raw_id"] = None
        with registered(conn, "normalized_frame", staged):
            # The window costs as much as the scan; skip it when no key repeats.
            repeats = staged.duplicated(subset=list(spec.primary_key)).any()
            _stage(conn, spec, columns, dedup=bool(repeats))
        _apply(conn, spec, columns, now)
        rows = conn.execute(
            f"SELECT partition_key, count(*), count(*) FILTER (_action = {INSERT}), "
            f"count(*) FILTER (_action = {UPDATE}), count(*) FILTER (_action = {UNCHANGED}) "
            f"FROM {CLASSIFIED} GROUP BY partition_key"
        ).fetchall()
        for key, total, inserted, updated, unchanged in rows:
            counts[key] = PartitionCounts(total, inserted, updated, unchanged)
    if rejects is not None and not rejects.empty:
        rejected = _quarantine(conn, spec, rejects, keys, now=now, write_id=write_id, run_id=run_id)
        for key, n in rejected.items():
            if key in counts:
                counts[key].rejected = n
    return counts
