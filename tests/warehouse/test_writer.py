"""WarehouseWriter: raw appends, primary-key upserts, ledger, quarantine, atomicity, order."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.warehouse.conftest import FIXTURES, daily_rows, fixture_csvs, read_raw_csv
from twilight_assets.prices.fallback import AKSHARE, TUSHARE, AkshareFallback
from twilight_resources.warehouse import (
    NormalizedBatch,
    WarehouseReader,
    WarehouseWriter,
    normalize_frame,
)
from twilight_resources.warehouse.rawfile import raw_path

ROW_SOURCE = AkshareFallback.row_source


def query(warehouse: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return conn.execute(sql, params).df()
    finally:
        conn.close()


def ledger(warehouse: Path, table: str) -> pd.DataFrame:
    """The ledger rows of ``table``, from the file that holds it."""
    return query(
        raw_path(warehouse) if table.startswith("raw_") else warehouse,
        "SELECT * FROM meta_partition_ledger WHERE table_name = ? ORDER BY write_id, partition_key",
        [table],
    )


def test_upsert_counts_and_idempotence(writer: WarehouseWriter, warehouse: Path) -> None:
    first = daily_rows(["000001.SZ", "600519.SH"], ["20240102", "20240103"])
    result = writer.write("normalized_daily", first, ["2024-01"])
    assert (result.inserted, result.updated, result.unchanged) == (4, 0, 0)

    again = writer.write("normalized_daily", first, ["2024-01"])
    assert (again.inserted, again.updated, again.unchanged, again.table_rows) == (0, 0, 4, 4)

    changed = first.copy()
    changed.loc[0, "close"] = 999.0
    extra = daily_rows(["000002.SZ"], ["20240102"], seed=3)
    mixed = writer.write("normalized_daily", pd.concat([changed, extra]), ["2024-01"])
    assert (mixed.inserted, mixed.updated, mixed.unchanged, mixed.table_rows) == (1, 1, 3, 5)

    rows = query(warehouse, "SELECT * FROM normalized_daily ORDER BY ts_code, trade_date")
    assert rows.loc[rows["close"] == 999.0, "ts_code"].tolist() == ["000001.SZ"]
    stamps = rows.groupby("ingested_at").size().sort_index().tolist()
    assert stamps == [3, 2]  # unchanged rows kept their first ingestion time
    assert ledger(warehouse, "normalized_daily")[
        ["inserted", "updated", "unchanged"]
    ].values.tolist() == [
        [4, 0, 0],
        [0, 0, 4],
        [1, 1, 3],
    ]


def test_upsert_leaves_columns_the_frame_lacks(writer: WarehouseWriter, warehouse: Path) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    partial = pd.DataFrame(
        {
            "ts_code": ["a"],
            "trade_date": pd.to_datetime(["2024-01-02"]),
            "close": [1.0],
            "source": ["tushare"],
        }
    )
    writer.write("normalized_daily", partial)
    row = query(warehouse, "SELECT open, close FROM normalized_daily").iloc[0]
    assert row["close"] == 1.0 and pd.notna(row["open"])


@pytest.mark.shared_fixtures
def test_raw_append_keeps_history_and_loads_latest_fetch(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    raw = read_raw_csv(FIXTURES / "daily" / "600519.SH_jennyfzz.csv").head(4)
    raw["partition_key"] = ["20241231", "20241231", "20241230", "20241227"]
    raw["request_params"] = [{"trade_date": k} for k in raw["partition_key"]]
    raw["fetched_at"] = pd.Timestamp("2025-01-01 08:00", tz="Asia/Shanghai")
    raw["surprise"] = "drift"  # an upstream column the DDL does not know
    keys = ["20241227", "20241230", "20241231", "20250101"]
    first = writer.write("raw_daily", raw, keys)
    assert (first.inserted, first.table_rows) == (4, 4)

    refetch = raw[raw["partition_key"] == "20241231"].drop(columns="surprise").head(1)
    writer.write("raw_daily", refetch.assign(close="1.0"), ["20241231"])

    stored = query(raw_path(warehouse), "SELECT * FROM raw_daily ORDER BY raw_id")
    assert stored["raw_id"].tolist() == [1, 2, 3, 4, 5]
    assert stored["extra_fields"].iloc[0] == '{"surprise":"drift"}'
    assert pd.isna(stored["extra_fields"].iloc[4])
    assert stored["fetched_at"].iloc[0] == pd.Timestamp("2025-01-01 00:00")  # UTC
    assert stored["request_params"].iloc[0] == '{"trade_date": "20241231"}'

    loaded = writer.load_raw("raw_daily", ["20241231", "20241227", "20250101", "19990101"])
    assert loaded["raw_id"].tolist() == [4, 5]  # 20241231: only its latest fetch
    assert loaded.loc[loaded["raw_id"] == 5, "close"].tolist() == ["1.0"]

    book = ledger(warehouse, "raw_daily")
    assert book[book["write_id"] == first.write_id]["rows"].tolist() == [1, 1, 2, 0]
    empty = book[book["partition_key"] == "20250101"].iloc[0]
    assert empty["rows"] == 0 and pd.isna(empty["raw_id_min"])  # "fetched, nothing there"


def test_multi_partition_writes_need_partition_keys(writer: WarehouseWriter) -> None:
    with pytest.raises(ValueError, match="partition_key"):
        writer.write("normalized_daily", daily_rows(["a"], ["20240102"]), ["p1", "p2"])
    with pytest.raises(ValueError, match="outside this write"):
        writer.write(
            "normalized_daily", daily_rows(["a"], ["20240102"]).assign(partition_key="p3"), ["p1"]
        )


@pytest.mark.shared_fixtures
def test_rejects_are_quarantined(writer: WarehouseWriter, warehouse: Path) -> None:
    raw = read_raw_csv(FIXTURES / "daily" / "000333.SZ_jennyfzz.csv").head(3)
    raw.loc[1, "close"] = "N/A"
    writer.write("raw_daily", raw, ["20241231"])
    loaded = writer.load_raw("raw_daily", ["20241231"])
    batch = normalize_frame("normalized_daily", loaded)
    result = writer.write("normalized_daily", batch, ["20241231"])
    assert (result.inserted, result.rejected) == (2, 1)
    writer.write("normalized_daily", batch, ["20241231"])  # same raw row, same reason: kept once

    quarantined = query(warehouse, "SELECT * FROM meta_quarantine")
    assert len(quarantined) == 1
    row = quarantined.iloc[0]
    assert row["reason"] == "close: cannot cast 'N/A' to DOUBLE"
    assert (row["table_name"], row["partition_key"], row["raw_id"]) == (
        "normalized_daily",
        "20241231",
        2,
    )
    assert '"close": "N/A"' in row["raw_row"]
    assert ledger(warehouse, "normalized_daily")["rejected"].tolist() == [1, 1]


def test_failed_write_changes_nothing(writer: WarehouseWriter, warehouse: Path) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]), ["p"])
    bad = daily_rows(["b"], ["20240102"]).astype({"close": object})
    bad.loc[0, "close"] = "not a number"
    with pytest.raises(duckdb.ConversionException):
        writer.write("normalized_daily", bad, ["p"])
    assert query(warehouse, "SELECT count(*) n FROM normalized_daily")["n"].item() == 1
    assert len(ledger(warehouse, "normalized_daily")) == 1
    assert writer.write("normalized_daily", daily_rows(["b"], ["20240102"]), ["p"]).inserted == 1


def test_schema_errors_are_loud(writer: WarehouseWriter) -> None:
    with pytest.raises(ValueError, match="no columns"):
        writer.write("normalized_daily", daily_rows(["a"], ["20240102"]).assign(oops=1))
    with pytest.raises(ValueError, match="lack required"):
        writer.write("normalized_daily", daily_rows(["a"], ["20240102"]).drop(columns="source"))
    with pytest.raises(ValueError, match="writer-assigned"):
        writer.write("raw_daily", pd.DataFrame({"ts_code": ["a"], "raw_id": [1]}))


def test_snapshot_parts_are_in_key_order(warehouse: Path) -> None:
    writer = WarehouseWriter(warehouse, threads=1)
    dates = [f"202401{d:02d}" for d in range(2, 32)]
    codes = [f"{i:06d}.SZ" for i in range(10)]
    for chunk in (dates[20:], dates[:10], dates[10:20]):  # appended out of key order
        writer.write("normalized_daily", daily_rows(codes, chunk))
    unsorted = query(warehouse, "SELECT ts_code, trade_date FROM normalized_daily")
    assert not unsorted.equals(unsorted.sort_values(["ts_code", "trade_date"]))
    with WarehouseReader(warehouse, threads=1) as reader:  # one part: read in its stored order
        physical = reader.query("SELECT ts_code, trade_date FROM normalized_daily")
    assert len(physical) == 300
    assert physical.equals(physical.sort_values(["ts_code", "trade_date"]).reset_index(drop=True))


def test_adjusted_views(writer: WarehouseWriter, warehouse: Path) -> None:
    bars = daily_rows(["a"], ["20240102", "20240103"])
    bars["close"] = [10.0, 11.0]
    factors = pd.DataFrame(
        {
            "ts_code": ["a", "a"],
            "trade_date": pd.to_datetime(["2024-01-02", "2024-01-03"]),
            "adj_factor": [2.0, 4.0],
            "source": "tushare",
        }
    )
    writer.write("normalized_daily", bars)
    writer.write("normalized_adj_factor", factors)
    qfq = query(warehouse, "SELECT close FROM daily_qfq ORDER BY trade_date")["close"].tolist()
    hfq = query(warehouse, "SELECT close FROM daily_hfq ORDER BY trade_date")["close"].tolist()
    assert qfq == [5.0, 11.0] and hfq == [20.0, 44.0]


@pytest.mark.shared_fixtures
def test_normalized_batch_from_real_fixture_round_trip(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    raw = read_raw_csv(FIXTURES / "fina_indicator" / "600519.SH_bancob.csv")
    writer.write("raw_fina_indicator", raw, ["600519.SH"])
    batch = normalize_frame(
        "normalized_fina_indicator", writer.load_raw("raw_fina_indicator", ["600519.SH"])
    )
    assert isinstance(batch, NormalizedBatch)
    result = writer.write("normalized_fina_indicator", batch, ["600519.SH"])
    assert result.rejected == 0 and result.table_rows == len(batch.clean)


@pytest.mark.shared_fixtures
def test_every_fixture_file_lands_in_both_layers(warehouse: Path) -> None:
    writer = WarehouseWriter(warehouse, threads=1, publish=False)
    expected: dict[str, int] = {}
    for path in fixture_csvs():
        api, key = path.parent.name, path.stem
        writer.write(f"raw_{api}", read_raw_csv(path), [key])
        batch = normalize_frame(f"normalized_{api}", writer.load_raw(f"raw_{api}", [key]))
        in_duckdb = writer.normalize_raw(f"raw_{api}", f"normalized_{api}", [key])
        pd.testing.assert_frame_equal(in_duckdb.clean, batch.clean)
        result = writer.write(f"normalized_{api}", batch, [key])
        assert result.rejected == 0, path.name
        expected[api] = result.table_rows
    for api, rows in expected.items():
        assert query(warehouse, f"SELECT count(*) AS n FROM normalized_{api}")["n"].item() == rows
    extra = query(raw_path(warehouse), "SELECT DISTINCT extra_fields FROM raw_index_weight LIMIT 1")
    assert set(json.loads(extra["extra_fields"].item())) == {"prev", "pct_chg"}


def test_repeated_keys_in_one_frame_last_row_wins(writer: WarehouseWriter, warehouse: Path) -> None:
    rows = pd.concat([daily_rows(["a"], ["20240102"], seed=s) for s in range(3)])
    rows["close"] = [1.0, 2.0, 3.0]
    result = writer.write("normalized_daily", rows)
    assert (result.rows, result.inserted) == (1, 1)
    assert query(warehouse, "SELECT close FROM normalized_daily")["close"].tolist() == [3.0]


@pytest.mark.shared_fixtures
def test_only_rows_with_a_new_column_carry_it(writer: WarehouseWriter, warehouse: Path) -> None:
    """Answers joined in one frame: a row whose answer lacked the new column stores NULL."""
    raw = read_raw_csv(FIXTURES / "daily" / "600519.SH_jennyfzz.csv").head(2)
    raw["partition_key"] = "20241231"
    raw["surprise"] = ["drift", None]
    writer.write("raw_daily", raw, ["20241231"])
    extras = query(raw_path(warehouse), "SELECT extra_fields FROM raw_daily ORDER BY raw_id")
    assert extras["extra_fields"].iloc[0] == '{"surprise":"drift"}'
    assert pd.isna(extras["extra_fields"].iloc[1])


def _fetch(keys: list[str], fetched_at: str, close: str = "10.0") -> pd.DataFrame:
    """Raw daily rows of one fetch per key: two stocks each, as the upstream's text."""
    return pd.DataFrame(
        {
            "ts_code": ["000001.SZ", "600519.SH"] * len(keys),
            "trade_date": [k for k in keys for _ in range(2)],
            "close": close,
            "partition_key": [k for k in keys for _ in range(2)],
            "request_params": [json.dumps({"trade_date": k}) for k in keys for _ in range(2)],
            "fetched_at": pd.Timestamp(fetched_at),
        }
    )


def test_the_same_raw_fetch_is_written_once(writer: WarehouseWriter, warehouse: Path) -> None:
    """A rerun that reads a committed fetch back from the spool (same parameters, same fetch
    time) must not append it again; a new fetch of the partition is history and appended."""
    writer.write("raw_daily", _fetch(["20240603", "20240604"], "2024-06-04 10:00"),
                 ["20240603", "20240604"])  # fmt: skip
    again = _fetch(["20240603", "20240604", "20240605"], "2024-06-04 10:00")
    result = writer.write("raw_daily", again, ["20240603", "20240604", "20240605"])
    assert result.inserted == 2  # only 20240605 is new
    refetched = _fetch(["20240603"], "2024-06-05 09:00", "11.0")
    newer = writer.write("raw_daily", refetched, ["20240603"])
    assert newer.inserted == 2
    stored = query(
        raw_path(warehouse), "SELECT partition_key, count(*) AS n FROM raw_daily GROUP BY ALL"
    )
    assert dict(zip(stored["partition_key"], stored["n"], strict=True)) == {
        "20240603": 4, "20240604": 2, "20240605": 2,
    }  # fmt: skip
    book = ledger(warehouse, "raw_daily")
    assert book.groupby("partition_key").size().to_dict() == {
        "20240603": 2, "20240604": 1, "20240605": 1,
    }  # fmt: skip
    latest = writer.load_raw("raw_daily", ["20240603", "20240604"])
    assert sorted(latest["close"].unique()) == ["10.0", "11.0"] and len(latest) == 4


def test_normalizing_in_duckdb_matches_normalizing_the_loaded_frame(
    writer: WarehouseWriter,
) -> None:
    # Two fetches of one day (the later wins), a value that does not cast, a row from AKShare.
    first = pd.DataFrame(
        {"ts_code": ["000001.SZ", "000002.SZ"], "trade_date": "20240102", "close": ["9.5", "x"]}
    )
    writer.write(
        "raw_daily", first.assign(fetched_at=pd.Timestamp("2024-01-02 08:00")), ["20240102"]
    )
    later = pd.DataFrame(
        {"ts_code": ["000001.SZ", "600000.SH"], "trade_date": "20240102", "close": ["9.7", "7"],
         "source": [None, AKSHARE]}
    )  # fmt: skip
    writer.write(
        "raw_daily", later.assign(fetched_at=pd.Timestamp("2024-01-02 09:00")), ["20240102"]
    )
    writer.write("raw_daily", first.assign(trade_date="20240103"), ["20240103"])
    keys = ["20240102", "20240103"]

    loaded = writer.load_raw("raw_daily", keys)
    in_duckdb = writer.normalize_raw("raw_daily", "normalized_daily", keys, source_sql=ROW_SOURCE)
    expected = [
        normalize_frame("normalized_daily", part, source=source)
        for source, part in loaded.groupby(
            loaded["extra_fields"].map(lambda t: json.loads(t)["source"] if t else TUSHARE)
        )
    ]
    clean = pd.concat([b.clean for b in expected]).sort_values("raw_id", ignore_index=True)
    pd.testing.assert_frame_equal(in_duckdb.clean, clean)
    assert in_duckdb.clean[["ts_code", "close", "source"]].values.tolist() == [
        ["000001.SZ", 9.7, TUSHARE], ["600000.SH", 7.0, AKSHARE], ["000001.SZ", 9.5, TUSHARE],
    ]  # fmt: skip
    rejects = pd.concat([b.rejects for b in expected if not b.rejects.empty], ignore_index=True)
    pd.testing.assert_frame_equal(in_duckdb.rejects, rejects)
    assert in_duckdb.rejects["partition_key"].tolist() == ["20240103"]
    assert "cannot cast 'x'" in in_duckdb.rejects["reason"].item()
