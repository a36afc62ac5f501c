"""normalize_frame: raw text -> typed rows, rejects with reasons, last fetch wins."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.warehouse.conftest import fixture_csvs, read_raw_csv
from twilight_resources.warehouse import normalize_frame, table_spec


@pytest.mark.shared_fixtures
@pytest.mark.parametrize("path", fixture_csvs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_row_normalizes(path: Path) -> None:
    raw = read_raw_csv(path)
    clean, rejects = normalize_frame(f"normalized_{path.parent.name}", raw)
    assert rejects.empty, rejects["reason"].head().tolist()
    spec = table_spec(f"normalized_{path.parent.name}")
    distinct_keys = raw[[c for c in spec.primary_key if c in raw.columns]].drop_duplicates()
    assert len(clean) == len(distinct_keys)  # only same-key duplicates collapse
    for column in spec.date_columns:
        if column in clean.columns:
            assert str(clean[column].dtype).startswith("datetime64")


def test_casts() -> None:
    raw = pd.DataFrame(
        {
            "ts_code": ["000001.SZ", "000001.SZ"],
            "trade_date": ["20240102", "2024-01-03"],
            "close": ["12.5", ""],
            "vol": [" 1e3 ", "NaN"],
        }
    )
    clean, rejects = normalize_frame("normalized_daily", raw)
    assert rejects.empty
    assert clean["trade_date"].dt.date.tolist() == [date(2024, 1, 2), date(2024, 1, 3)]
    assert clean["close"].iloc[0] == 12.5 and pd.isna(clean["close"].iloc[1])
    assert clean["vol"].iloc[0] == 1000.0 and pd.isna(clean["vol"].iloc[1])
    assert "open" not in clean.columns  # not fetched: an upsert must not overwrite it
    assert clean["source"].unique().tolist() == ["tushare"]


def test_malformed_rows_are_rejected_with_reasons() -> None:
    raw = pd.DataFrame(
        {
            "ts_code": ["600519.SH", "600519.SH", None, "600519.SH"],
            "trade_date": ["20240102", "20240132", "20240104", "20240105"],
            "close": ["1500.1", "1501", "1502", "abc"],
            "raw_id": [1, 2, 3, 4],
            "partition_key": ["p"] * 4,
        }
    )
    clean, rejects = normalize_frame("normalized_daily", raw)
    assert clean["raw_id"].tolist() == [1]
    assert rejects["raw_id"].tolist() == [2, 3, 4]
    assert rejects["reason"].tolist() == [
        "trade_date: cannot cast '20240132' to DATE",
        "ts_code: key column is NULL",
        "close: cannot cast 'abc' to DOUBLE",
    ]
    assert json.loads(rejects["raw_row"].iloc[2])["close"] == "abc"


def test_integers_are_strict() -> None:
    raw = pd.DataFrame(
        {
            "ts_code": ["a"] * 3,
            "ann_date": ["20240101", "20240102", "20240103"],
            "end_date": ["20231231"] * 3,
            "is_audit": ["1", "0.0", "1.5"],
        }
    )
    clean, rejects = normalize_frame("normalized_express", raw)
    assert clean["is_audit"].tolist() == [1, 0]
    assert rejects["reason"].tolist() == ["is_audit: cannot cast '1.5' to INTEGER"]


def test_last_fetch_wins_then_last_row() -> None:
    raw = pd.DataFrame(
        {
            "ts_code": ["a", "a", "a"],
            "trade_date": ["20240102"] * 3,
            "close": ["2", "1", "3"],
            "fetched_at": pd.to_datetime(["2024-01-03", "2024-01-02", "2024-01-03"]),
        }
    )
    clean, _ = normalize_frame("normalized_daily", raw)
    assert clean["close"].tolist() == [3.0]


def test_documented_defaults_and_key_fallbacks() -> None:
    calendar, _ = normalize_frame(
        "normalized_trade_cal", pd.DataFrame({"cal_date": ["20240102"], "is_open": ["1"]})
    )
    assert calendar["exchange"].tolist() == ["SSE"]  # Tushare's default exchange
    income, rejects = normalize_frame(
        "normalized_income",
        pd.DataFrame(
            {
                "ts_code": ["a"],
                "ann_date": ["20240425"],
                "f_ann_date": [""],
                "end_date": ["20240331"],
                "report_type": ["1"],
            }
        ),
    )
    assert rejects.empty and income["f_ann_date"].dt.strftime("%Y%m%d").tolist() == ["20240425"]


def test_missing_key_column_rejects_every_row() -> None:
    clean, rejects = normalize_frame("normalized_daily", pd.DataFrame({"ts_code": ["a"]}))
    assert clean.empty and rejects["reason"].tolist() == ["trade_date: key column is missing"]


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips(value: float) -> None:
    clean, _ = normalize_frame(
        "normalized_daily",
        pd.DataFrame({"ts_code": ["a"], "trade_date": ["20240102"], "close": [repr(value)]}),
    )
    assert clean["close"].iloc[0] == value
