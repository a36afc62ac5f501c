"""/warehouse/* answer what the simulator served and the warehouse holds; bad input is a 4xx."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import Served
from twilight_resources.tushare import client_from_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.models import BarsPage, DailyBasicPage

STOCK = "000001.SZ"
RANGE = {"start_date": "20240501", "end_date": "20240731"}
PRICES = ["open", "high", "low", "close", "pre_close", "change", "pct_chg", "vol", "amount"]


def frame_of(body: dict) -> pd.DataFrame:
    frame = pd.DataFrame(body["rows"])
    frame["trade_date"] = pd.to_datetime(frame["trade_date"]).dt.strftime("%Y%m%d")
    return frame.sort_values("trade_date").reset_index(drop=True)


def upstream(served: Served, api: str, **params: str) -> pd.DataFrame:
    frame = client_from_settings(served.settings()).query(api, params)
    return frame.sort_values("trade_date").reset_index(drop=True)


def test_daily_equals_the_simulator(client: TestClient, served: Served) -> None:
    got = client.get("/warehouse/daily", params={"ts_code": STOCK, **RANGE})
    assert got.status_code == 200, got.text
    body = got.json()
    BarsPage.model_validate(body)  # rendered without pydantic, so check it keeps the contract
    want = upstream(served, "daily", ts_code=STOCK, **RANGE)
    assert body["count"] == len(want) > 40
    frame = frame_of(body)
    assert frame["trade_date"].tolist() == want["trade_date"].tolist()
    np.testing.assert_allclose(frame[PRICES].to_numpy(float), want[PRICES].to_numpy(float))
    # Floats in their shortest form, as the upstream sent them (10.52, not 10.519999999999999).
    assert all(f'"close":{close!r}' in got.text for close in want["close"])


@pytest.mark.parametrize("adj", ["qfq", "hfq"])
def test_adjusted_daily_follows_tushare_definitions(
    client: TestClient, served: Served, adj: str
) -> None:
    body = client.get("/warehouse/daily", params={"ts_code": STOCK, "adj": adj, **RANGE}).json()
    daily = upstream(served, "daily", ts_code=STOCK, **RANGE)
    factors = upstream(served, "adj_factor", ts_code=STOCK, **RANGE)
    merged = daily.merge(factors[["trade_date", "adj_factor"]], on="trade_date")
    scale = merged["adj_factor"] / (merged["adj_factor"].iloc[-1] if adj == "qfq" else 1.0)
    frame = frame_of(body)
    assert body["adj"] == adj
    np.testing.assert_allclose(  # to 4 decimals, as the views store them
        frame["close"], (merged["close"] * scale).round(4), rtol=0, atol=1.01e-4
    )
    np.testing.assert_allclose(frame["adj_factor"], merged["adj_factor"])


@pytest.mark.parametrize(
    ("route", "table", "code"),
    [
        ("weekly", "normalized_weekly", STOCK),
        ("monthly", "normalized_monthly", STOCK),
        ("index_daily", "normalized_index_daily", "000300.SH"),
        ("daily_basic", "normalized_daily_basic", STOCK),
    ],
)
def test_tables_equal_the_warehouse(
    client: TestClient, served: Served, route: str, table: str, code: str
) -> None:
    got = client.get(f"/warehouse/{route}", params={"ts_code": code, **RANGE})
    assert got.status_code == 200, got.text
    (DailyBasicPage if route == "daily_basic" else BarsPage).model_validate(got.json())
    frame = frame_of(got.json())
    with WarehouseReader.from_settings(served.settings()) as reader:
        want = reader.query(f"SELECT * FROM {table} WHERE ts_code = ? ORDER BY trade_date", [code])
    assert len(frame) == len(want) > 0
    numeric = [c for c in frame.columns if c not in ("ts_code", "trade_date", "adj_factor")]
    np.testing.assert_allclose(
        frame[numeric].to_numpy(float), want[numeric].to_numpy(float), equal_nan=True
    )


def test_paging(client: TestClient) -> None:
    whole = client.get("/warehouse/daily", params={"ts_code": STOCK, **RANGE}).json()["rows"]
    first = client.get("/warehouse/daily", params={"ts_code": STOCK, "limit": 10, **RANGE}).json()
    second = client.get(
        "/warehouse/daily", params={"ts_code": STOCK, "limit": 10, "offset": 10, **RANGE}
    ).json()
    assert first["rows"] + second["rows"] == whole[:20]


def test_dates_are_written_as_requests_write_them(client: TestClient) -> None:
    for route in ("daily", "weekly", "monthly", "daily_basic"):
        body = client.get(f"/warehouse/{route}", params={"ts_code": STOCK, **RANGE}).json()
        assert (body["start_date"], body["end_date"]) == ("20240501", "20240731"), route
        assert body["rows"] and all(re.fullmatch(r"\d{8}", r["trade_date"]) for r in body["rows"])
        assert body["note"] is None


@pytest.mark.parametrize(
    ("route", "params", "reason"),
    [
        ("daily", {"start_date": "20200101", "end_date": "20200301"},
         "outside the stored range: daily holds 20240506..20240731"),
        ("daily", {"start_date": "20240601", "end_date": "20240602"},
         "not a trading day: the stored calendar has no session in 20240601..20240602"),
        ("weekly", {"start_date": "20240603", "end_date": "20240606"},
         "no weekly bar in 20240603..20240606: each is dated on its week's last trading day"),
        ("daily", {**RANGE, "offset": 5000}, "past the last row: offset 5000"),
    ],
)  # fmt: skip
def test_an_empty_page_says_why(client: TestClient, route: str, params: dict, reason: str) -> None:
    got = client.get(f"/warehouse/{route}", params={"ts_code": STOCK, **params})
    assert got.status_code == 200 and got.json()["rows"] == []
    assert reason in got.json()["note"], got.json()["note"]


def test_unknown_stock_is_404_naming_it(client: TestClient) -> None:
    got = client.get("/warehouse/daily", params={"ts_code": "999999.SH", **RANGE})
    assert got.status_code == 404
    assert "999999.SH" in got.json()["detail"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"ts_code": "600000"}, "ts_code"),
        ({"ts_code": "600000.SH'; DROP TABLE x; --"}, "ts_code"),
        ({"ts_code": STOCK, "start_date": "2024-05-01"}, "start_date"),
        ({"ts_code": STOCK, "start_date": "20240230"}, "YYYYMMDD"),
        ({"ts_code": STOCK, "start_date": "20240701", "end_date": "20240601"}, "after end_date"),
        ({"ts_code": STOCK, "start_date": "19900101", "end_date": "20240601"}, "at most"),
        ({"ts_code": STOCK, "adj": "xfq"}, "adj"),
        ({"ts_code": STOCK, "limit": 0}, "limit"),
        ({"ts_code": STOCK, "limit": 100000}, "limit"),
        ({"ts_code": STOCK, "offset": -1}, "offset"),
        ({}, "ts_code"),
    ],
)
def test_bad_input_is_422_saying_what_to_fix(client: TestClient, params: dict, needle: str) -> None:
    got = client.get("/warehouse/daily", params=params)
    assert got.status_code == 422, got.text
    detail = got.json()["detail"]
    assert needle in detail
    assert "SELECT" not in detail


@pytest.mark.parametrize("end_date", ["00010101", "99991231"])
def test_extreme_dates_are_answered_not_crashed(client: TestClient, end_date: str) -> None:
    got = client.get("/warehouse/daily", params={"ts_code": STOCK, "end_date": end_date})
    assert got.status_code == 200 and got.json()["rows"] == []
