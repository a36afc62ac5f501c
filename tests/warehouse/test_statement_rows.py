"""The row-shaped statement copy answers exactly what the statement tables do, point in time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from twilight_resources.warehouse import WarehouseReader, WarehouseWriter, publish_snapshot
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.locking import write_lock
from twilight_resources.warehouse.snapshots import publish_locked
from twilight_resources.warehouse.statement_rows import LAYOUT, ROWS
from twilight_serve.fundamentals import _from_tables, statement_records

A, B = "000001.SZ", "600000.SH"


def income(code: str, end: str, announced: str, n_income: float) -> pd.DataFrame:
    day = pd.Timestamp(announced)
    return pd.DataFrame(
        {
            "ts_code": [code], "ann_date": [day], "f_ann_date": [day],
            "end_date": [pd.Timestamp(end)], "report_type": ["1"], "n_income": [n_income],
            "total_revenue": [n_income * 10], "source": ["tushare"], "raw_id": [None],
        }
    )  # fmt: skip


def indicator(code: str, end: str, announced: str, eps: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts_code": [code], "ann_date": [pd.Timestamp(announced)],
            "end_date": [pd.Timestamp(end)], "eps": [eps], "source": ["tushare"],
            "raw_id": [None],
        }
    )  # fmt: skip


def known(reader: WarehouseReader, code: str, as_of: str, period: str | None = None) -> dict:
    """The served answer, checked against the statement tables' answer."""
    day = date.fromisoformat(f"{as_of[:4]}-{as_of[4:6]}-{as_of[6:]}")
    answer = statement_records(reader, code, period, day)
    end = date.fromisoformat(f"{period[:4]}-{period[4:6]}-{period[6:]}") if period else None
    assert answer == _from_tables(reader, code, end, day)
    return answer


def rows_of(path: Path) -> list[tuple]:
    conn = connect(path, read_only=True)
    try:
        return conn.execute(
            f"SELECT ts_code, end_date, statement, known_on FROM {ROWS} ORDER BY ALL"
        ).fetchall()
    finally:
        conn.close()


def test_versions_corrections_and_new_periods_are_served_as_known(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    writer = WarehouseWriter(path)
    writer.write("normalized_income", income(B, "20231231", "20240320", 5.0), ["20231231"])
    writer.write("normalized_income", income(A, "20231231", "20240320", 10.0), ["20231231"])
    writer.write(
        "normalized_fina_indicator", indicator(A, "20231231", "20240320", 0.5), ["20231231"]
    )
    with WarehouseReader(path) as reader:
        assert known(reader, A, "20240319") == {
            "income": [], "balancesheet": [], "cashflow": [], "fina_indicator": []
        }  # fmt: skip
        first = known(reader, A, "20240320")
        (row,) = first["income"]
        assert (row["n_income"], row["total_revenue"], row["basic_eps"]) == (10.0, 100.0, None)
        assert (row["end_date"], row["f_ann_date"], row["report_type"]) == (
            "20231231", "20240320", "1"
        )  # fmt: skip
        assert "raw_id" not in row and "ingested_at" not in row and row["source"] == "tushare"
        assert [r["eps"] for r in first["fina_indicator"]] == [0.5]

        # A restatement (a later version), then a correction of the first version in place.
        writer.write("normalized_income", income(A, "20231231", "20240527", 12.0), ["20231231"])
        assert known(reader, A, "20240526")["income"][0]["n_income"] == 10.0
        assert known(reader, A, "20240527")["income"][0]["f_ann_date"] == "20240527"
        writer.write("normalized_income", income(A, "20231231", "20240320", 11.0), ["20231231"])
        assert known(reader, A, "20240526")["income"][0]["n_income"] == 11.0
        assert known(reader, A, "20240527")["income"][0]["n_income"] == 12.0

        # A new period is the default once announced; the old one stays asked by period.
        writer.write("normalized_income", income(A, "20240331", "20240425", 3.0), ["20240331"])
        assert known(reader, A, "20240424")["income"][0]["end_date"] == "20231231"
        assert known(reader, A, "20240425")["income"][0]["end_date"] == "20240331"
        assert known(reader, A, "20240425", "20231231")["income"][0]["n_income"] == 11.0
        assert known(reader, A, "20240425")["fina_indicator"] == []  # none for that period
        assert known(reader, B, "20240601")["income"][0]["n_income"] == 5.0

    # Writing the same version again changes nothing; every version is there once.
    writer.write("normalized_income", income(A, "20240331", "20240425", 3.0), ["20240331"])
    held = rows_of(path)
    assert [(r[0], str(r[1]), r[2], str(r[3])) for r in held] == [
        (A, "2023-12-31", "fina_indicator", "2024-03-20"),
        (A, "2023-12-31", "income", "2024-03-20"),
        (A, "2023-12-31", "income", "2024-05-27"),
        (A, "2024-03-31", "income", "2024-04-25"),
        (B, "2023-12-31", "income", "2024-03-20"),
    ]


def drop_copy(path: Path) -> None:
    """Make ``path`` a warehouse written before the copy existed."""
    conn = connect(path)
    conn.execute(f"DROP TABLE {ROWS}")
    conn.execute(f"DROP TABLE {LAYOUT}")
    conn.close()


def test_a_warehouse_without_the_copy_is_served_then_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    writer = WarehouseWriter(path)
    writer.write("normalized_income", income(A, "20231231", "20240320", 10.0), ["20231231"])
    writer.write("normalized_income", income(A, "20231231", "20240527", 12.0), ["20231231"])
    expected = rows_of(path)
    drop_copy(path)
    with write_lock(path, 10.0, writer=True):
        conn = connect(path)
        publish_locked(path, conn, full=True)  # the snapshot an older version published
        conn.close()
    with WarehouseReader(path) as reader:
        answer = known(reader, A, "20240526")  # read from the statement tables
        assert answer["income"][0]["n_income"] == 10.0
        publish_snapshot(path)  # `twilight publish` rebuilds the copy
        assert rows_of(path) == expected
        assert statement_records(reader, A, None, date(2024, 5, 26)) == answer
        drop_copy(path)  # and so does the next write, of any table
        writer.write("normalized_income", income(B, "20231231", "20240320", 5.0), ["20231231"])
        assert rows_of(path) == [*expected, (B, *expected[0][1:])]
        assert statement_records(reader, A, None, date(2024, 5, 26)) == answer


def test_rows_of_another_layout_are_not_served(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    WarehouseWriter(path).write(
        "normalized_income", income(A, "20231231", "20240320", 10.0), ["20231231"]
    )
    conn = connect(path)  # rows built by a version with other columns
    conn.execute(f"UPDATE {ROWS} SET vals = '[1, 2]'")
    conn.close()
    publish_snapshot(path)
    with WarehouseReader(path) as reader:
        assert known(reader, A, "20240601")["income"][0]["n_income"] == 10.0
