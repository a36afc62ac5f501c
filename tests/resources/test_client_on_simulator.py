"""Our client against the simulator: same frames as the tushare package, paging, qfq parity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tushare as ts

from twilight_resources.tushare import TushareClient
from twilight_sim.server import SimServer, start_simulator
from twilight_sim.testing import tushare_client

TOKEN = "parity-token"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with start_simulator(
        seed=11, n_stocks=30, start_date="20230101", end_date="20241231", rate_limit_per_minute=0
    ) as server:
        yield server


@pytest.fixture
def client(sim: SimServer) -> TushareClient:
    return TushareClient(sim.url, TOKEN, backoff_base=0.01)


@pytest.mark.parametrize(
    ("api", "params"),
    [
        ("daily", {"trade_date": "20240605"}),
        ("stock_basic", {"list_status": "L"}),
        ("trade_cal", {"exchange": "SSE", "start_date": "20240101", "end_date": "20240331"}),
        ("adj_factor", {"trade_date": "20240605"}),
        ("income_vip", {"period": "20231231"}),
    ],
)
def test_same_dataframe_as_the_tushare_package(
    client: TushareClient, sim: SimServer, api: str, params: dict[str, str]
) -> None:
    theirs = tushare_client(sim, token=TOKEN).query(api, **params)
    ours = client.query(api, params)
    assert len(ours) > 0
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def test_paging_over_the_row_cap_loses_and_doubles_nothing(
    client: TushareClient, sim: SimServer
) -> None:
    params = {"start_date": "20230101", "end_date": "20241231"}
    sim.reset_stats()
    frame = client.query("daily", params)
    per_code = sum(
        len(client.query("daily", {"ts_code": code, **params}))
        for code in frame["ts_code"].unique()
    )
    assert len(frame) > 6000 and len(frame) == per_code
    assert not frame.duplicated(["ts_code", "trade_date"]).any()
    assert sim.stats()["daily"] >= 1 + len(frame) // 6000 + frame["ts_code"].nunique()


def test_qfq_parity_with_tushare_pro_bar(client: TushareClient, sim: SimServer) -> None:
    """tushare's own pro_bar(adj='qfq') and a direct calculation from our client agree."""
    code, start, end = "600000.SH", "20240101", "20241231"
    pro = tushare_client(sim, token=TOKEN)
    theirs = ts.pro_bar(ts_code=code, adj="qfq", start_date=start, end_date=end, api=pro)
    daily = client.query("daily", {"ts_code": code, "start_date": start, "end_date": end})
    factors = client.query("adj_factor", {"ts_code": code, "start_date": start, "end_date": end})
    merged = daily.merge(factors, on=["ts_code", "trade_date"]).sort_values("trade_date")
    latest = merged["adj_factor"].iloc[-1]
    assert merged["adj_factor"].nunique() > 1, "no ex-dividend day in the range"
    ours = (merged["close"] * merged["adj_factor"] / latest).round(2).to_numpy()
    theirs = theirs.sort_values("trade_date")["close"].to_numpy()
    np.testing.assert_allclose(ours, theirs, atol=0.011)


def test_embedded_default_starts_and_reuses_one_simulator(twilight_home: Path) -> None:
    from twilight_resources.embedded import stop_simulator
    from twilight_resources.settings import get_settings
    from twilight_resources.tushare import client_from_settings

    settings = get_settings()
    assert settings.uses_simulator
    try:
        first = client_from_settings(settings)
        second = client_from_settings(settings)
        assert first.api_url == second.api_url.rstrip("/")
        assert first.api_url.startswith("http://127.0.0.1:")
        assert len(first.query("trade_cal", {"start_date": "20240101", "end_date": "20240110"}))
    finally:
        assert stop_simulator(settings)
