"""Table shapes, derived from the DDL in ``sql/`` so a table is declared in exactly one place.

``sql/`` is package data of this package, read through ``importlib.resources`` so a wheel
install carries it (nothing is read from a source checkout).

The DDL files are executed in an in-memory DuckDB once per process and the catalog is read
back (columns, types, defaults, primary keys). Nothing here restates a column list. Tables of
one's own are declared in extra DDL directories (``TWILIGHT_EXTRA_SQL_DIR``, ``os.pathsep``
separated), applied after ``sql/``.
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
RAW_LINEAGE = ("raw_id", "partition_key", "request_params", "fetched_at", "extra_fields")
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
    """The DDL files in apply order (``00_meta.sql``, ``01_raw.sql``, ...)."""
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
    return _specs(sql_dirs())


@cache
def _specs(dirs: tuple[Traversable, ...]) -> dict[str, TableSpec]:
    conn = connect()
    try:
        conn.execute(_ddl_text(dirs))
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
    finally:
        conn.close()
    return {
        name: TableSpec(name, cols, tuple(keys.get(name, ())), defaults.get(name, {}))
        for name, cols in columns.items()
    }


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
