"""Every DuckDB connection the project opens has extension autoinstall and autoload off."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.conftest import REPO, daily_rows
from twilight_resources.warehouse import WarehouseReader, WarehouseWriter
from twilight_resources.warehouse.connections import connect

SETTINGS = (
    "SELECT current_setting('autoinstall_known_extensions') AS install, "
    "current_setting('autoload_known_extensions') AS load"
)
PACKAGES = ("twilight_sim", "twilight_resources", "twilight_assets", "twilight_serve", "bench")


def test_writer_and_reader_connections_load_no_extension(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    writer.write("normalized_daily", daily_rows(["000001.SZ"], ["20240603"]))
    with writer.transaction() as conn:
        assert conn.execute(SETTINGS).fetchone() == (False, False)
    with WarehouseReader(warehouse) as reader:
        assert reader.records(SETTINGS) == [{"install": False, "load": False}]


def test_a_sqlite_file_fails_at_once_instead_of_fetching_an_extension(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE tokens (hash TEXT)")
    with pytest.raises(duckdb.Error, match="(?i)extension"):
        connect(path, read_only=True)


def test_no_connection_bypasses_the_helper() -> None:
    """A plain ``duckdb.connect`` anywhere in the packages would autoload again."""
    pattern = re.compile(r"\bduckdb\.connect\(")
    offenders = [
        str(path.relative_to(REPO))
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
        if path.name != "connections.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"use twilight_resources.warehouse.connections.connect in {offenders}"
