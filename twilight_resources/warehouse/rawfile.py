"""The raw layer's own DuckDB file, beside the warehouse and never published.

Readers need the normalized and meta tables only, so the raw answers (text, larger than the
normalized layer) stay out of every read snapshot: ``warehouse.raw.duckdb`` holds the raw
tables plus its own partition ledger and id counters. A DuckDB transaction writes one attached
database only, so a raw write and its ledger rows commit together in this file. The writer
opens it under the same lock as the warehouse file.

A warehouse from before the split holds its raw tables in the main file: the first open of the
raw file copies them and their ledger rows over in the transaction that creates its schema;
only then does the writer drop them from the main file (:func:`drop_moved`). A kill between the
two leaves both copies, and the next open of the main file finishes the drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from twilight_resources.warehouse.locking import connect_writable
from twilight_resources.warehouse.schema import (
    COUNTERS,
    LEDGER,
    quote,
    raw_file_sql,
    table_spec,
)

OLD = "single_file"  # the main file, attached read-only while its raw tables are copied
_RAW_TABLES = "table_name LIKE 'raw\\_%' ESCAPE '\\'"


def raw_path(warehouse: Path) -> Path:
    """``warehouse.duckdb`` -> ``warehouse.raw.duckdb``, in the same directory."""
    return warehouse.with_name(f"{warehouse.stem}.raw{warehouse.suffix}")


def open_raw(
    warehouse: Path, config: Mapping[str, str | int], timeout: float
) -> duckdb.DuckDBPyConnection:
    """The raw file of ``warehouse``, schema-current; the caller holds the writer lock."""
    conn = connect_writable(raw_path(warehouse), config, timeout)
    try:
        if _created(conn):
            apply_raw_ddl(conn)
        else:
            _create(conn, warehouse)
    except BaseException:
        conn.close()
        raise
    return conn


def _created(conn: duckdb.DuckDBPyConnection, database: str | None = None) -> bool:
    """Whether the raw file's schema (and with it any move from the main file) is committed."""
    row = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
        "AND database_name = coalesce(?, current_database())",
        [LEDGER, database],
    ).fetchone()
    return bool(row and row[0])


def _tables(conn: duckdb.DuckDBPyConnection, database: str, where: str) -> list[str]:
    rows = conn.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND {where} "
        "ORDER BY table_name",
        [database],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _columns(conn: duckdb.DuckDBPyConnection, database: str) -> dict[str, dict[str, str]]:
    held: dict[str, dict[str, str]] = {}
    for table, column, data_type in conn.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? ORDER BY table_name, column_index",
        [database],
    ).fetchall():
        held.setdefault(str(table), {})[str(column)] = str(data_type)
    return held


def apply_raw_ddl(conn: duckdb.DuckDBPyConnection) -> None:
    """Create missing raw-file tables and views, add columns the DDL gained. Never drops.

    Only what is missing is executed: a current file costs one catalog query per open.
    """
    database = _current(conn)
    held = _columns(conn, database)
    views = dict(
        conn.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal",
            [database],
        ).fetchall()
    )
    for name, sql in raw_file_sql().items():
        if sql.startswith("CREATE VIEW"):
            if views.get(name) != sql:
                conn.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
        elif name not in held:
            conn.execute(sql.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1))
        else:
            _add_columns(conn, name, held[name], table_spec(name).columns)


def _add_columns(
    conn: duckdb.DuckDBPyConnection, table: str, held: Mapping[str, str], wanted: Mapping[str, str]
) -> None:
    for column, data_type in wanted.items():
        if column not in held:
            conn.execute(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(column)} {data_type}"
            )


def _create(conn: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """The raw file's schema, and the raw layer of a single-file warehouse, in one commit."""
    database = _current(conn)
    old = warehouse.exists()
    if old:
        conn.execute(f"ATTACH {path_literal(warehouse)} AS {OLD} (READ_ONLY)")
    try:
        conn.begin()
        apply_raw_ddl(conn)
        if old and _created(conn, OLD):
            _copy_raw(conn, database)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if old:
            conn.execute(f"DETACH {OLD}")


def _copy_raw(conn: duckdb.DuckDBPyConnection, database: str) -> None:
    """Raw tables, their ledger rows and the counters, from the main file into this one."""
    held, old = _columns(conn, database), _columns(conn, OLD)
    for table in _tables(conn, OLD, _RAW_TABLES):
        if table in held:
            _add_columns(conn, table, held[table], old[table])
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {OLD}.{table}")
        else:  # no longer declared: kept as it was
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM {OLD}.{table}")
    conn.execute(f"INSERT INTO {LEDGER} BY NAME SELECT * FROM {OLD}.{LEDGER} WHERE {_RAW_TABLES}")
    conn.execute(f"INSERT INTO {COUNTERS} BY NAME SELECT * FROM {OLD}.{COUNTERS}")


def left_in_main(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Raw tables the main file still holds (a warehouse from before the split)."""
    return _tables(conn, _current(conn), _RAW_TABLES)


def drop_moved(conn: duckdb.DuckDBPyConnection) -> None:
    """Drop the raw tables and raw ledger rows of the main file. Only once the raw file holds
    them: the caller opened the raw file first, which moved them."""
    moved = left_in_main(conn)
    conn.begin()
    try:
        for table in moved:
            conn.execute(f"DROP TABLE {table}")
        conn.execute(f"DELETE FROM {LEDGER} WHERE {_RAW_TABLES}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _current(conn: duckdb.DuckDBPyConnection) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def path_literal(path: Path) -> str:
    """``path`` as an SQL string literal (for ATTACH)."""
    return "'" + str(path).replace("'", "''") + "'"
