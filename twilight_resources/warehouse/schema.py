"""Table shapes, derived from the DDL in ``sql/`` so a table is declared in exactly one place.

``sql/`` is package data of this package, read through ``importlib.resources`` so a wheel
install carries it (nothing is read from a source checkout).

The DDL files are executed in an in-memory DuckDB once per process and the catalog is read
back (columns, types, defaults, primary keys). Nothing here restates a column list. Tables of
one's own are declared in extra DDL directories (``TWILIGHT_EXTRA_SQL_DIR``, ``os.pathsep``
separated), applied after ``sql/``.

The raw layer is not written by hand: ``raw_<api>`` is generated from ``normalized_<api>``,
each upstream field as VARCHAR (what the upstream answered, so malformed values survive),
followed by the bookkeeping columns of :data:`RAW_BOOKKEEPING`. It lives in its own file (see
``rawfile``), with its own copy of the partition ledger and id counters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import duckdb

from twilight_resources.warehouse.connections import connect

SQL_DIR: Traversable = files("twilight_resources.warehouse") / "sql"
EXTRA_SQL_ENV = "TWILIGHT_EXTRA_SQL_DIR"
# Assigned by the warehouse writer to every raw row, declared here once for all raw tables.
RAW_BOOKKEEPING = {
    "raw_id": "BIGINT NOT NULL",  # unique per row across all raw tables (counter 'raw_id')
    "partition_key": "VARCHAR NOT NULL",  # the Dagster partition ('' when unpartitioned)
    "request_params": "VARCHAR",  # JSON text of the request parameters
    "fetched_at": "TIMESTAMP NOT NULL",  # when the asset received the answer (UTC)
    "extra_fields": "JSON",  # upstream columns the DDL does not know (schema drift)
}
RAW_LINEAGE = tuple(RAW_BOOKKEEPING)
# What the raw file holds besides the raw tables: its own ledger and counters, as declared in
# the meta DDL, so raw rows and their ledger rows commit in one transaction of that file.
LEDGER, COUNTERS = "meta_partition_ledger", "meta_counters"
RAW_FILE_META = (COUNTERS, LEDGER)
RAW_FILE_VIEWS = ("meta_partition_latest",)
NORMALIZED_LINEAGE = ("source", "ingested_at", "raw_id")
LAYERS = ("raw", "normalized")
DDL_FILE = re.compile(r"[0-9]{2}_.*\.sql")

Layer = Literal["raw", "normalized", "meta"]


class UnknownTableError(KeyError):
    """A table or asset key that the DDL does not declare."""


@dataclass(frozen=True)
class TableSpec:
    """One table as the DDL declares it. ``columns`` keeps declaration order."""

    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    defaults: dict[str, str]

    @property
    def layer(self) -> Layer:
        prefix = self.name.split("_", 1)[0]
        if prefix == "raw":
            return "raw"
        return "normalized" if prefix == "normalized" else "meta"

    @property
    def api(self) -> str:
        """The Tushare API name, e.g. ``daily`` for ``normalized_daily``."""
        return self.name.split("_", 1)[1]

    @property
    def lineage_columns(self) -> tuple[str, ...]:
        lineage = {"raw": RAW_LINEAGE, "normalized": NORMALIZED_LINEAGE}.get(self.layer, ())
        return tuple(c for c in self.columns if c in lineage)

    @property
    def data_columns(self) -> tuple[str, ...]:
        """Upstream fields: every column except the lineage columns."""
        lineage = set(self.lineage_columns)
        return tuple(c for c in self.columns if c not in lineage)

    @property
    def date_columns(self) -> tuple[str, ...]:
        return tuple(c for c, t in self.columns.items() if t == "DATE")

    @property
    def sort_key(self) -> tuple[str, ...]:
        """Physical order the writer maintains: the primary key as declared (code, date, ...)."""
        return self.primary_key


def sql_files(sql_dir: Traversable = SQL_DIR) -> list[Traversable]:
    """The DDL files in apply order (``00_meta.sql``, ``02_normalized.sql``, ...)."""
    found = sorted(
        (p for p in sql_dir.iterdir() if p.is_file() and DDL_FILE.fullmatch(p.name)),
        key=lambda p: p.name,
    )
    if not found:
        raise FileNotFoundError(f"no DDL files found in {sql_dir}")
    return found


def sql_dirs() -> tuple[Traversable, ...]:
    """``sql/``, then the extra DDL directories of ``TWILIGHT_EXTRA_SQL_DIR``."""
    extra = os.environ.get(EXTRA_SQL_ENV, "")
    return (SQL_DIR, *(Path(p) for p in extra.split(os.pathsep) if p))


@cache
def _ddl_text(dirs: tuple[Traversable, ...]) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for d in dirs for path in sql_files(d))


def ddl_text() -> str:
    return _ddl_text(sql_dirs())


def apply_ddl(conn: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables, add missing columns, refresh views. Idempotent; never drops."""
    conn.execute(ddl_text())


def _catalog() -> dict[str, TableSpec]:
    return _declared(sql_dirs()).specs


def raw_table_sql(normalized: TableSpec) -> str:
    """``CREATE TABLE`` of the raw table of a normalized one: its upstream fields as text."""
    fields = [f"{quote(c)} VARCHAR" for c in normalized.data_columns]
    bookkeeping = [f"{quote(c)} {t}" for c, t in RAW_BOOKKEEPING.items()]
    body = ",\n    ".join([*fields, *bookkeeping])
    return f"CREATE TABLE raw_{normalized.api} (\n    {body}\n);"


def _read_specs(conn: duckdb.DuckDBPyConnection) -> dict[str, TableSpec]:
    columns: dict[str, dict[str, str]] = {}
    defaults: dict[str, dict[str, str]] = {}
    rows = conn.execute(
        "SELECT c.table_name, c.column_name, c.data_type, c.column_default "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_schema, table_name) WHERE t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    for table, column, data_type, default in rows:
        columns.setdefault(table, {})[column] = data_type
        if default is not None:
            defaults.setdefault(table, {})[column] = default
    keys = dict(
        conn.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    )
    return {
        name: TableSpec(name, cols, tuple(keys.get(name, ())), defaults.get(name, {}))
        for name, cols in columns.items()
    }


@dataclass(frozen=True)
class _Declared:
    specs: dict[str, TableSpec]
    raw_file_sql: dict[str, str]  # raw-file table or view -> its CREATE statement


@cache
def _declared(dirs: tuple[Traversable, ...]) -> _Declared:
    conn = connect()
    try:
        conn.execute(_ddl_text(dirs))
        specs = _read_specs(conn)
        written = sorted(name for name in specs if name.startswith("raw_"))
        if written:
            raise ValueError(
                f"{written[0]} is declared in the DDL, but raw tables are generated from "
                "their normalized_* table: declare only the normalized one"
            )
        raw = {
            f"raw_{spec.api}": raw_table_sql(spec)
            for spec in specs.values()
            if spec.layer == "normalized"
        }
        conn.execute("\n".join(raw.values()))
        meta = conn.execute(
            "SELECT table_name, sql FROM duckdb_tables() WHERE list_contains(?, table_name) "
            "UNION ALL SELECT view_name, sql FROM duckdb_views() "
            "WHERE list_contains(?, view_name)",
            [list(RAW_FILE_META), list(RAW_FILE_VIEWS)],
        ).fetchall()
        specs = _read_specs(conn)
    finally:
        conn.close()
    ordered = {name: sql for name, sql in meta}
    ordered = {name: ordered[name] for name in (*RAW_FILE_META, *RAW_FILE_VIEWS)}
    return _Declared(specs, {**ordered, **raw})


def raw_file_sql() -> dict[str, str]:
    """The raw file's tables and views by name, each with the statement that creates it."""
    return _declared(sql_dirs()).raw_file_sql


def table_spec(name: str) -> TableSpec:
    try:
        return _catalog()[name]
    except KeyError:
        dirs = ", ".join(str(d) for d in sql_dirs())
        raise UnknownTableError(f"table {name!r} is not declared in {dirs}") from None


def all_tables(layer: Layer | None = None) -> tuple[str, ...]:
    """Data tables (raw_* and normalized_*), or the tables of one layer, sorted by name."""
    specs = _catalog().values()
    wanted = (layer,) if layer else LAYERS
    return tuple(sorted(s.name for s in specs if s.layer in wanted))


def table_for_asset_key(path: Sequence[str]) -> str:
    """The one rule mapping an asset key to a table: its last two parts joined by ``_``.

    ``["raw", "daily"]`` -> ``raw_daily``; ``["tushare", "normalized", "daily"]`` ->
    ``normalized_daily``; a one-part key ``["raw_daily"]`` maps to itself.
    """
    name = "_".join(path[-2:])
    if name not in all_tables():
        raise UnknownTableError(
            f"asset key {'/'.join(path)!r} maps to {name!r}, which is not a raw_* or "
            "normalized_* table declared in sql/"
        )
    return name


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB (Tushare has fields such as ``desc``)."""
    return '"' + identifier.replace('"', '""') + '"'
