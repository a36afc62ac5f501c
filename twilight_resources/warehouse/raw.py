"""The raw write path: append what the upstream answered, as text, with a raw_id per row."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from twilight_resources.warehouse.frames import registered, timestamps_utc, with_partition_keys
from twilight_resources.warehouse.ledger import PartitionCounts, allocate
from twilight_resources.warehouse.schema import TableSpec, quote

WRITER_ASSIGNED = ("raw_id", "extra_fields")
LATEST = "latest_raw"  # the temp table of stage_latest


@dataclass(frozen=True)
class RawBatch:
    """What a raw asset hands the IO manager: the answers' rows (labelled with partition key,
    request parameters and fetch time), the partitions the write speaks for, and the spool
    files of the answers, deleted once the write has committed.

    ``partition_keys`` may be fewer than the run's: partitions the warehouse already held were
    not fetched, and keep their ledger rows instead of being recorded as fetched-and-empty.
    """

    frame: pd.DataFrame
    partition_keys: tuple[str, ...]
    spooled: tuple[Path, ...] = field(default=())


def _json_text(value: object) -> str | None:
    """Request parameters as JSON text; strings are taken to be JSON already."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def append_raw(
    conn: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    frame: pd.DataFrame,
    keys: Sequence[str],
    *,
    fetched_default: datetime,
) -> dict[str, PartitionCounts]:
    """Append ``frame`` to ``spec``'s raw table inside the caller's transaction.

    Known upstream columns become VARCHAR; unknown ones are packed into ``extra_fields``.
    ``request_params`` may hold dicts (stored as JSON text); a missing ``fetched_at`` means
    ``fetched_default``.
    """
    assigned = [c for c in WRITER_ASSIGNED if c in frame.columns]
    if assigned:
        raise ValueError(f"raw frames must not carry writer-assigned columns {assigned}")
    frame = with_partition_keys(frame, keys)
    given = frame.get("request_params")
    if given is not None and not pd.api.types.is_string_dtype(given):  # not all JSON text yet
        frame["request_params"] = given.map(_json_text)
    fetched = (
        timestamps_utc(frame["fetched_at"]).fillna(fetched_default)
        if "fetched_at" in frame.columns
        else pd.Series(fetched_default, index=frame.index)
    )
    frame["fetched_at"] = fetched.astype("datetime64[us]")
    known = [c for c in spec.data_columns if c in frame.columns]
    extra = [c for c in frame.columns if c not in spec.columns and c != "_row"]

    counts = {key: PartitionCounts() for key in keys}
    if frame.empty:
        return counts
    held = _held_fetches(conn, spec, frame)
    if held:  # the same fetch again (a rerun of a write whose publish failed): not twice
        frame = frame[~frame["partition_key"].isin(held)].reset_index(drop=True)
        frame["_row"] = range(len(frame))
        counts = {key: c for key, c in counts.items() if key not in held}
        if frame.empty:
            return counts
    first = allocate(conn, "raw_id", len(frame))
    # Only the extras a row really has: answers joined with others that had a new column must
    # not claim it as null, and a row with none stores NULL.
    entries = ", ".join(
        "{'k': '" + c.replace("'", "''") + f"', 'v': CAST({quote(c)} AS VARCHAR)}}" for c in extra
    )
    present = f"list_filter([{entries}], lambda e: e.v IS NOT NULL)"
    packed = f"NULLIF(to_json(map_from_entries({present})), '{{}}')" if extra else "NULL"
    params = "request_params" if "request_params" in frame.columns else "NULL"
    with registered(conn, "raw_frame", frame):
        conn.execute(
            f"INSERT INTO {spec.name} "
            f"({''.join(f'{quote(c)}, ' for c in known)}"
            "raw_id, partition_key, request_params, fetched_at, extra_fields) "
            f"SELECT {''.join(f'CAST({quote(c)} AS VARCHAR), ' for c in known)}"
            f"? + _row, partition_key, CAST({params} AS VARCHAR), fetched_at, {packed} "
            "FROM raw_frame ORDER BY _row",
            [first],
        )
    grouped = frame.groupby("partition_key")["_row"].agg(["count", "min", "max"])
    for key, (rows, low, high) in grouped.iterrows():
        counts[str(key)] = PartitionCounts(
            rows=int(rows),
            inserted=int(rows),
            raw_id_min=first + int(low),
            raw_id_max=first + int(high),
        )
    return counts


def _held_fetches(
    conn: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame
) -> set[str]:
    """Partitions whose rows in ``frame`` are the partition's latest stored fetch already.

    A fetch is known by its request parameters and fetch time (a rerun reads a fetch back
    from the spool with both unchanged); the latest ledger row of a partition locates its
    stored rows by raw_id range, so the check reads only those rows.
    """
    latest = conn.execute(
        "SELECT partition_key, raw_id_min AS low, raw_id_max AS high FROM meta_partition_latest "
        "WHERE table_name = ? AND raw_id_min IS NOT NULL "
        "AND list_contains(CAST(? AS VARCHAR[]), partition_key)",
        [spec.name, [str(k) for k in frame["partition_key"].unique()]],
    ).df()
    if latest.empty:  # none of these partitions was fetched with rows before: the usual case
        return set()
    params = "request_params" if "request_params" in frame.columns else "NULL"
    columns = [c for c in ("partition_key", "request_params", "fetched_at") if c in frame.columns]
    with registered(conn, "incoming_rows", frame[columns]), registered(conn, "latest", latest):
        rows = conn.execute(
            "WITH incoming AS (SELECT CAST(partition_key AS VARCHAR) AS partition_key, "
            f"CAST({params} AS VARCHAR) AS request_params, "
            "CAST(fetched_at AS TIMESTAMP) AS fetched_at, count(*) AS n "
            "FROM incoming_rows GROUP BY ALL), "
            "stored AS (SELECT r.partition_key, r.request_params, r.fetched_at, "
            f"count(*) AS n FROM {spec.name} r JOIN latest l ON r.partition_key = "
            "l.partition_key AND r.raw_id BETWEEN l.low AND l.high "
            "WHERE r.raw_id BETWEEN ? AND ? GROUP BY ALL), "
            "compared AS (SELECT coalesce(i.partition_key, s.partition_key) AS partition_key, "
            "i.n IS NOT DISTINCT FROM s.n AS same FROM incoming i FULL JOIN stored s "
            "ON i.partition_key = s.partition_key "
            "AND i.request_params IS NOT DISTINCT FROM s.request_params "
            "AND i.fetched_at = s.fetched_at) "
            "SELECT partition_key FROM compared WHERE partition_key IN "
            "(SELECT partition_key FROM latest) GROUP BY partition_key HAVING bool_and(same)",
            [int(latest["low"].min()), int(latest["high"].max())],
        ).fetchall()
    return {str(row[0]) for row in rows}


def stage_latest(
    conn: duckdb.DuckDBPyConnection, spec: TableSpec, keys: Sequence[str], catalog: str = ""
) -> str:
    """A temp table of the rows of the latest fetch of each partition in ``keys`` (older fetches
    stay in history), ``_row`` numbering them in fetch order; returns its name. ``catalog``:
    the attached database holding the raw tables, if not the connection's own."""
    prefix = f"{catalog}." if catalog else ""
    fetches = conn.execute(
        f"SELECT partition_key, raw_id_min, raw_id_max FROM {prefix}meta_partition_latest "
        "WHERE table_name = ? AND list_contains(CAST(? AS VARCHAR[]), partition_key) "
        "AND raw_id_min IS NOT NULL",
        [spec.name, list(keys)],
    ).fetchall()
    if not fetches:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {LATEST} AS "
            f"SELECT *, raw_id AS _row FROM {prefix}{spec.name} LIMIT 0"
        )
        return LATEST
    fetch_frame = pd.DataFrame(fetches, columns=["partition_key", "low", "high"])
    with registered(conn, "latest_fetches", fetch_frame):
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {LATEST} AS SELECT r.*, r.raw_id AS _row "
            f"FROM {prefix}{spec.name} r JOIN latest_fetches f "
            "ON r.partition_key = f.partition_key AND r.raw_id BETWEEN f.low AND f.high "
            "WHERE r.raw_id BETWEEN ? AND ?",
            [int(fetch_frame["low"].min()), int(fetch_frame["high"].max())],
        )
    return LATEST


def load_latest(
    conn: duckdb.DuckDBPyConnection, spec: TableSpec, keys: Sequence[str]
) -> pd.DataFrame:
    """Rows of the latest fetch of each partition in ``keys``, in fetch order."""
    staged = stage_latest(conn, spec, keys)
    return conn.execute(f"SELECT * EXCLUDE (_row) FROM {staged} ORDER BY _row").df()
