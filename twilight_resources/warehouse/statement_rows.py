"""The row-shaped copy of the financial statements the read API answers one stock from.

A statement row has 90-170 columns, and DuckDB fetches each column of a row on its own: one
row costs ~4 ms a table whatever the query, so one stock's four statements cost ~20 ms.
``serve_statement_rows`` holds every version of every row as one JSON array of the answer's
values (dates as YYYYMMDD, as requests write them); snapshots hold it in key order, so a
narrow scan finds a stock.
The writer keeps it in step inside the transaction that upserts a statement table
(:func:`refresh`); whatever applies the DDL to the warehouse (a writer, ``twilight publish``)
rebuilds it whole when the layout it was built with is not the DDL's (:func:`ensure`).
"""

from __future__ import annotations

from functools import cache

import duckdb

from twilight_resources.warehouse import parts
from twilight_resources.warehouse.schema import quote, table_spec
from twilight_resources.warehouse.upsert import CLASSIFIED, INSERT, UPDATE

ROWS = "serve_statement_rows"
LAYOUT = "serve_statement_layout"
# Statement -> the column that dates a version (its announcement); the table is normalized_<it>.
KNOWN_ON = {
    "income": "f_ann_date",
    "balancesheet": "f_ann_date",
    "cashflow": "f_ann_date",
    "fina_indicator": "ann_date",
}
SOURCES = {f"normalized_{name}": name for name in KNOWN_ON}
HIDDEN = ("raw_id", "ingested_at")  # lineage an answer leaves out (which fetch, when)


@cache
def columns(statement: str) -> tuple[str, ...]:
    """The answer's columns of ``statement``, in DDL order: what each ``vals`` holds."""
    spec = table_spec(f"normalized_{statement}")
    return tuple(c for c in spec.columns if c not in HIDDEN)


def _value(column: str, kind: str) -> str:
    if kind == "DATE":
        return f"strftime({quote(column)}, '%Y%m%d')"
    if kind == "DOUBLE":  # JSON has no NaN or Infinity
        return f"CASE WHEN isfinite({quote(column)}) THEN {quote(column)} END"
    return quote(column)


def _select(statement: str, join: str = "") -> str:
    spec = table_spec(f"normalized_{statement}")
    values = ", ".join(_value(c, spec.columns[c]) for c in columns(statement))
    report_type = "report_type" if "report_type" in spec.columns else "''"
    return (
        f"SELECT ts_code, end_date, '{statement}' AS statement, {report_type} AS report_type, "
        f"{KNOWN_ON[statement]} AS known_on, CAST(json_array({values}) AS VARCHAR) AS vals "
        f"FROM {spec.name} {join}"
    )


def stale(conn: duckdb.DuckDBPyConnection) -> bool:
    """The rows were built with other columns than the DDL's, or never built."""
    built = dict(conn.execute(f"SELECT statement, columns FROM {LAYOUT}").fetchall())
    return built != {s: list(columns(s)) for s in KNOWN_ON}


def ensure(conn: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild the rows, in a transaction of their own, if they are :func:`stale`."""
    if not stale(conn):
        return False
    conn.begin()
    try:
        rebuild(conn)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return True


def rebuild(conn: duckdb.DuckDBPyConnection) -> None:
    """All rows again from the statement tables; the caller's transaction."""
    conn.execute(f"DELETE FROM {ROWS}")
    conn.execute(f"DELETE FROM {LAYOUT}")
    layouts = [[statement, list(columns(statement))] for statement in KNOWN_ON]
    conn.executemany(f"INSERT INTO {LAYOUT} VALUES (?, ?)", layouts)
    union = " UNION ALL ".join(_select(s) for s in KNOWN_ON)
    conn.execute(f"INSERT INTO {ROWS} SELECT * FROM ({union})")
    parts.mark_whole(conn, (ROWS, LAYOUT))


def refresh(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Rewrite the rows of every (stock, period) the upsert just inserted or changed.

    Reads the upsert's classification of its rows (``CLASSIFIED``); the caller's transaction.
    The rows keep their (stock, period), hence the snapshot part they belong to.
    """
    statement = SOURCES[table]
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT ts_code, end_date "
        f"FROM {CLASSIFIED} WHERE _action IN ({INSERT}, {UPDATE})"
    )
    conn.execute(
        f"DELETE FROM {ROWS} r USING touched t WHERE r.statement = ? "
        "AND r.ts_code = t.ts_code AND r.end_date = t.end_date",
        [statement],
    )
    conn.execute(
        f"INSERT INTO {ROWS} {_select(statement, 'JOIN touched USING (ts_code, end_date)')}"
    )
    parts.mark_rows(conn, ROWS, "touched", "TRUE")
