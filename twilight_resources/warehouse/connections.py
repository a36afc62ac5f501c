"""Every DuckDB connection the project opens, with extension autoloading off.

DuckDB otherwise installs and loads a known extension the moment a query or a file needs one:
a file that is not a DuckDB database (say, a SQLite file a bad pointer names) would make it
reach for the network and block for its timeout. The extensions the warehouse uses (json,
parquet, icu) are built into the Python package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

NO_AUTOLOAD = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def connect(
    database: Path | str = ":memory:",
    *,
    read_only: bool = False,
    config: Mapping[str, str | int] | None = None,
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with ``config`` and autoinstall/autoload of extensions off."""
    return duckdb.connect(
        str(database), read_only=read_only, config={**(config or {}), **NO_AUTOLOAD}
    )
