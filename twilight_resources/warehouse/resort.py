"""Keeping tables physically in primary-key order, so range reads touch few row groups.

DuckDB prunes row groups by min/max; a table in (ts_code, trade_date) order answers "one stock,
one year" from one or two row groups, a date-ordered table from every row group of that year
(measured on 10M daily rows: about 2.5 ms vs 20 ms per query). New keys are appended in key
order but after the sorted body, so the writer tracks how many leading rows are sorted and
rewrites the table, in one transaction, once the unsorted tail is both large in absolute
terms and a sizeable fraction of the table. Updates happen in place and keep the order.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from twilight_resources.warehouse.schema import TableSpec, quote


def row_count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def sorted_rows(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    row = conn.execute(
        "SELECT sorted_rows FROM meta_table_state WHERE table_name = ?", [table]
    ).fetchone()
    return int(row[0]) if row else 0


def mark_sorted(conn: duckdb.DuckDBPyConnection, table: str, rows: int, at: datetime) -> None:
    conn.execute("INSERT OR REPLACE INTO meta_table_state VALUES (?, ?, ?)", [table, rows, at])


def should_resort(total: int, sorted_count: int, *, fraction: float, min_rows: int) -> bool:
    unsorted = total - sorted_count
    return unsorted >= min_rows and unsorted >= fraction * total


def rewrite_sorted(conn: duckdb.DuckDBPyConnection, spec: TableSpec, at: datetime) -> int:
    """Rewrite ``spec``'s table in sort-key order; returns its row count. Caller's transaction.

    The copy is created from the live table's own DDL (so columns added later are kept), then
    swapped in by DROP + RENAME; views bind by name and are unaffected.
    """
    row = conn.execute(
        "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [spec.name],
    ).fetchone()
    if row is None:
        raise LookupError(f"table {spec.name} does not exist")
    staging = f"{spec.name}__resort"
    create = str(row[0]).replace(f"CREATE TABLE {spec.name}(", f"CREATE TABLE {staging}(", 1)
    if staging not in create:
        raise RuntimeError(f"unexpected DDL for {spec.name}: {row[0][:80]}")
    order = ", ".join(quote(c) for c in spec.sort_key)
    conn.execute(create)
    conn.execute(f"INSERT INTO {staging} SELECT * FROM {spec.name} ORDER BY {order}")
    conn.execute(f"DROP TABLE {spec.name}")
    conn.execute(f"ALTER TABLE {staging} RENAME TO {spec.name}")
    total = row_count(conn, spec.name)
    mark_sorted(conn, spec.name, total, at)
    return total
