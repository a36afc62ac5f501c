"""/fundamentals and /warehouse/fundamentals answer the simulator's statements, point in time."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import Served
from twilight_resources.tushare import client_from_settings
from twilight_resources.warehouse import WarehouseWriter, normalize_frame, table_spec

STOCK = "000001.SZ"
APIS = ["income", "balancesheet", "cashflow", "fina_indicator"]


@pytest.fixture(scope="module")
def statements(served: Served) -> dict[str, pd.DataFrame]:
    """The simulator's statements of one stock, written into the session warehouse."""
    settings = served.settings()
    client = client_from_settings(settings)
    writer = WarehouseWriter.from_settings(settings)
    answers = {}
    for api in APIS:
        spec = table_spec(f"normalized_{api}")
        answers[api] = client.query(api, {"ts_code": STOCK}, spec.data_columns)
        writer.write(spec.name, normalize_frame(spec, answers[api]), [f"serve-test-{STOCK}"])
    return answers


def test_latest_is_the_newest_period(client: TestClient, statements: dict) -> None:
    got = client.get("/fundamentals", params={"ts_code": STOCK})
    assert got.status_code == 200, got.text
    body = got.json()["statements"]
    income = statements["income"]
    newest = income[income["end_date"] == income["end_date"].max()]
    assert [r["end_date"] for r in body["income"]] == ["20240331"] * len(newest)
    assert body["income"][0]["total_revenue"] == pytest.approx(
        float(newest["total_revenue"].iloc[0])
    )
    assert set(body) == set(APIS)


def test_point_in_time_hides_reports_not_yet_announced(
    client: TestClient, statements: dict
) -> None:
    before = client.get(
        "/warehouse/fundamentals",
        params={"ts_code": STOCK, "period": "20231231", "as_of": "20240402"},
    ).json()
    assert all(rows == [] for rows in before["statements"].values())
    after = client.get(
        "/warehouse/fundamentals",
        params={"ts_code": STOCK, "period": "20231231", "as_of": "20240403"},
    ).json()
    assert after["statements"]["income"][0]["f_ann_date"] == "20240403"  # as requests write it
    assert after["period"] == "20231231" and after["as_of"] == "20240403"


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"ts_code": STOCK, "period": "20240315"}, 422, "quarter end"),
        ({"ts_code": STOCK, "as_of": "20241301"}, 422, "as_of"),
        ({"ts_code": "999999.SZ"}, 404, "999999.SZ"),
    ],
)
def test_bad_requests(client: TestClient, params: dict, status: int, needle: str) -> None:
    got = client.get("/warehouse/fundamentals", params=params)
    assert got.status_code == status and needle in got.json()["detail"]
