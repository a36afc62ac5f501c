"""What a snapshot is made of: one part per small table, one per year of a dated table.

A publish exports only the parts the writes since the last one changed, so each write records
its parts in ``meta_dirty_parts`` inside its own transaction: a crash can lose neither the data
nor the note that the published snapshot lacks it. A dated table is split on the first of
:data:`BUCKET_COLUMNS` in its primary key (the column its partitions are keyed on: a trading day
or a report period); a key containing it means an update never moves a row to another bucket.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from twilight_resources.warehouse.schema import TableSpec, UnknownTableError, quote, table_spec

DIRTY = "meta_dirty_parts"
WHOLE = "*"  # bucket: the whole table; as a table name: every table
BUCKET_COLUMNS = ("trade_date", "end_date")
UNPUBLISHED_PREFIXES = ("raw_",)  # readers never read the raw layer


def published(table: str) -> bool:
    """Whether readers get ``table`` (everything but the raw layer and this bookkeeping)."""
    return table != DIRTY and not table.startswith(UNPUBLISHED_PREFIXES)


def spec_of(table: str) -> TableSpec | None:
    """The DDL's shape of ``table``; None for a table the DDL does not declare."""
    try:
        return table_spec(table)
    except UnknownTableError:
        return None


def bucket_column(spec: TableSpec | None) -> str | None:
    """The DATE column of the primary key that splits ``spec``'s table by year, if any."""
    if spec is None:
        return None
    for column in BUCKET_COLUMNS:
        if column in spec.primary_key and spec.columns.get(column) == "DATE":
            return column
    return None


def mark_whole(conn: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> None:
    """Every part of ``tables`` lags (``WHOLE``: of every table); the caller's transaction."""
    rows = [[table, WHOLE] for table in tables if table == WHOLE or published(table)]
    if rows:
        conn.executemany(f"INSERT OR IGNORE INTO {DIRTY} VALUES (?, ?)", rows)


def mark_rows(conn: duckdb.DuckDBPyConnection, table: str, relation: str, where: str) -> None:
    """The parts of ``table`` holding the rows of ``relation`` that satisfy ``where`` lag."""
    column = bucket_column(spec_of(table))
    bucket = f"CAST(year({quote(column)}) AS VARCHAR)" if column else f"'{WHOLE}'"
    conn.execute(
        f"INSERT OR IGNORE INTO {DIRTY} SELECT DISTINCT ?, {bucket} FROM {relation} WHERE {where}",
        [table],
    )


def dirty(conn: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Table -> the buckets of it that the published snapshot lacks."""
    found: dict[str, set[str]] = {}
    for table, bucket in conn.execute(f"SELECT table_name, bucket FROM {DIRTY}").fetchall():
        found.setdefault(str(table), set()).add(str(bucket))
    return found


def clear(conn: duckdb.DuckDBPyConnection) -> None:
    """A publish holds every part: nothing lags (under the writer lock, after the pointer)."""
    conn.execute(f"DELETE FROM {DIRTY}")
