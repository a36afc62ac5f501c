"""The DDL is the one declaration of every table; every real upstream field has a home."""

from __future__ import annotations

import re
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.conftest import FIXTURES, NON_TUSHARE_COLUMNS, fixture_csvs
from twilight_resources.warehouse.rawfile import apply_raw_ddl
from twilight_resources.warehouse.schema import (
    EXTRA_SQL_ENV,
    NORMALIZED_LINEAGE,
    RAW_LINEAGE,
    UnknownTableError,
    all_tables,
    apply_ddl,
    raw_file_sql,
    sql_files,
    table_for_asset_key,
    table_spec,
)

HANDWRITTEN_RAW = Path(__file__).with_name("raw_columns_handwritten.tsv")
COLUMNS_SQL = (
    "SELECT table_name, column_name, data_type, CAST(is_nullable AS VARCHAR) FROM "
    "duckdb_columns() WHERE NOT internal AND database_name = current_database() {where} "
    "ORDER BY table_name, column_index"
)

APIS = {
    "T1": ["stock_basic", "trade_cal", "daily", "adj_factor", "daily_basic"],
    "T2": ["weekly", "monthly", "index_basic", "index_daily", "index_dailybasic", "index_weight"],
    "T3": [
        "income",
        "balancesheet",
        "cashflow",
        "fina_indicator",
        "forecast",
        "express",
        "disclosure_date",
    ],
}
ALL_APIS = [api for apis in APIS.values() for api in apis]
PRIMARY_KEYS = {
    **{
        a: {"ts_code", "trade_date"}
        for a in (
            "daily",
            "weekly",
            "monthly",
            "adj_factor",
            "daily_basic",
            "index_daily",
            "index_dailybasic",
        )
    },
    "trade_cal": {"exchange", "cal_date"},
    "stock_basic": {"ts_code"},
    "index_basic": {"ts_code"},
    "index_weight": {"index_code", "con_code", "trade_date"},
    **{
        a: {"ts_code", "end_date", "report_type", "f_ann_date"}
        for a in (
            "income",
            "balancesheet",
            "cashflow",
        )
    },
    **{a: {"ts_code", "end_date", "ann_date"} for a in ("fina_indicator", "forecast", "express")},
    "disclosure_date": {"ts_code", "end_date"},
}
ALLOWED = re.compile(
    r"^(CREATE TABLE IF NOT EXISTS|CREATE OR REPLACE VIEW|"
    r"ALTER TABLE \w+ ADD COLUMN IF NOT EXISTS)\b",
    re.IGNORECASE,
)


def fields_md() -> dict[str, list[tuple[str, str]]]:
    """FIELDS.md: api -> [(field, doc type)]."""
    sections = re.split(r"^## ", (FIXTURES / "FIELDS.md").read_text(encoding="utf-8"), flags=re.M)
    out = {}
    for section in sections[1:]:
        name = section.split("\n", 1)[0].strip()
        rows = re.findall(r"^\| (\w+) \| (\w+) \|", section, flags=re.M)
        out[name] = [(f, t) for f, t in rows if f != "field"]
    return out


def strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


@pytest.mark.parametrize("path", sql_files(), ids=lambda p: p.name)
def test_ddl_only_grows(path: Traversable) -> None:
    for statement in duckdb.extract_statements(strip_comments(path.read_text(encoding="utf-8"))):
        text = " ".join(statement.query.split())
        assert ALLOWED.match(text), f"{path.name}: not an additive statement: {text[:80]}"


def test_every_api_has_raw_and_normalized_tables() -> None:
    expected = {f"{layer}_{api}" for api in ALL_APIS for layer in ("raw", "normalized")}
    assert set(all_tables()) == expected


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("api", ALL_APIS)
def test_every_documented_field_has_a_typed_home(api: str) -> None:
    raw, normalized = table_spec(f"raw_{api}"), table_spec(f"normalized_{api}")
    for field, doc_type in fields_md()[api]:
        assert raw.columns.get(field) == "VARCHAR", f"raw_{api}.{field}"
        expected = {"float": "DOUBLE", "int": "INTEGER"}.get(doc_type, "VARCHAR")
        if doc_type == "str" and field.endswith("_date") and field != "modify_date":
            expected = "DATE"
        assert normalized.columns.get(field) == expected, f"normalized_{api}.{field}"
    assert set(normalized.data_columns) == {f for f, _ in fields_md()[api]}


@pytest.mark.parametrize("api", ALL_APIS)
def test_keys_and_lineage(api: str) -> None:
    raw, normalized = table_spec(f"raw_{api}"), table_spec(f"normalized_{api}")
    assert set(normalized.primary_key) == PRIMARY_KEYS[api]
    assert normalized.sort_key[0] in {"ts_code", "index_code", "exchange"}
    assert {c: normalized.columns[c] for c in NORMALIZED_LINEAGE} == {
        "source": "VARCHAR",
        "ingested_at": "TIMESTAMP",
        "raw_id": "BIGINT",
    }
    assert {c: raw.columns[c] for c in RAW_LINEAGE} == {
        "raw_id": "BIGINT",
        "partition_key": "VARCHAR",
        "request_params": "VARCHAR",
        "fetched_at": "TIMESTAMP",
        "extra_fields": "JSON",
    }
    assert raw.primary_key == ()


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("path", fixture_csvs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_column_has_a_home(path: Path) -> None:
    api = path.parent.name
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    columns = set(header) - NON_TUSHARE_COLUMNS.get(api, set())
    assert columns <= set(table_spec(f"raw_{api}").data_columns)
    assert columns <= set(table_spec(f"normalized_{api}").data_columns)


def test_asset_key_rule() -> None:
    assert table_for_asset_key(["raw", "daily"]) == "raw_daily"
    assert table_for_asset_key(["normalized", "daily"]) == "normalized_daily"
    assert table_for_asset_key(["tushare", "normalized", "index_weight"]) == (
        "normalized_index_weight"
    )
    with pytest.raises(UnknownTableError):
        table_for_asset_key(["clean", "daily"])


def test_apply_ddl_is_idempotent_and_keeps_added_columns(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    apply_ddl(conn)
    conn.execute("ALTER TABLE normalized_daily ADD COLUMN ah_vol DOUBLE")
    conn.execute("INSERT INTO meta_counters VALUES ('raw_id', 7)")
    apply_ddl(conn)
    assert "ah_vol" in conn.execute("SELECT * FROM normalized_daily LIMIT 0").df().columns
    assert conn.execute("SELECT value FROM meta_counters").fetchall() == [(7,)]


def test_generated_raw_tables_equal_the_handwritten_ones(tmp_path: Path) -> None:
    """Every raw table, column, type and NOT NULL as sql/01_raw.sql declared them by hand."""
    lines = HANDWRITTEN_RAW.read_text(encoding="utf-8").splitlines()
    handwritten = [tuple(line.split("\t")) for line in lines if not line.startswith("#")]
    conn = duckdb.connect(str(tmp_path / "raw.duckdb"))
    apply_raw_ddl(conn)
    generated = conn.execute(COLUMNS_SQL.format(where="AND starts_with(table_name, 'raw_')"))
    assert generated.fetchall() == handwritten
    # Beside them, the raw file's own ledger (and its view) and counters, from the meta DDL.
    meta = {"meta_partition_ledger", "meta_counters", "meta_partition_latest"}
    held = conn.execute(COLUMNS_SQL.format(where="AND starts_with(table_name, 'meta_')"))
    assert {t for t, *_ in held.fetchall()} == meta
    assert set(raw_file_sql()) == {*all_tables("raw"), *meta}


def test_the_main_ddl_declares_no_raw_table(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    apply_ddl(conn)
    raw = COLUMNS_SQL.format(where="AND starts_with(table_name, 'raw_')")
    assert conn.execute(raw).fetchall() == []


def test_a_raw_table_declared_by_hand_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "10_mine.sql").write_text("CREATE TABLE IF NOT EXISTS raw_mine (a VARCHAR);\n")
    monkeypatch.setenv(EXTRA_SQL_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="raw_mine is declared in the DDL, but raw tables are"):
        table_spec("normalized_daily")


def test_the_raw_file_grows_with_the_normalized_ddl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column added to normalized_<api> (extra DDL) appears in an existing raw file."""
    conn = duckdb.connect(str(tmp_path / "raw.duckdb"))
    apply_raw_ddl(conn)
    conn.execute("INSERT INTO meta_counters VALUES ('raw_id', 7)")
    extra = tmp_path / "sql"
    extra.mkdir()
    (extra / "10_more.sql").write_text(
        "ALTER TABLE normalized_daily ADD COLUMN IF NOT EXISTS ah_vol DOUBLE;\n"
    )
    monkeypatch.setenv(EXTRA_SQL_ENV, str(extra))
    apply_raw_ddl(conn)
    columns = conn.execute("SELECT * FROM raw_daily LIMIT 0").df().columns
    assert list(columns[-2:]) == ["extra_fields", "ah_vol"]
    assert conn.execute("SELECT value FROM meta_counters").fetchall() == [(7,)]
    assert table_spec("raw_daily").columns["ah_vol"] == "VARCHAR"
