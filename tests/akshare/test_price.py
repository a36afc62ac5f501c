"""/price during trading: AKShare's live quote, cached by market state, the warehouse on failure.

The real app over a real warehouse (the serve suite's session warehouse), AKShare's real
``akshare`` code over HTTP to the same simulator; the simulator's clock and the app's clock
are set to the same moment.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import Clock, Served, market_time
from twilight_resources.akshare import client as akshare_client
from twilight_sim.akshare import AkshareFaults

STOCK = "000001.SZ"


@pytest.fixture
def trading(served: Served, clock: Clock) -> Iterator[Clock]:
    """Both clocks at 10:30 on 31 July 2024 (a quarter of the session traded)."""
    clock.now = market_time("20240731 10:30")
    served.sim.set_clock("20240731T10:30")
    served.sim.eastmoney.configure(AkshareFaults())
    yield clock
    served.sim.eastmoney.configure(AkshareFaults())
    served.sim.set_clock("20240731T23:59:59")


def test_live_quote_while_trading_then_cached(client: TestClient, trading: Clock, served: Served):
    bar = served.sim.market.query(
        "daily", ts_code=STOCK, trade_date="20240731", now="20240731"
    ).iloc[0]
    expected = round(bar["open"] + (bar["close"] - bar["open"]) * 0.25, 2)
    body = client.get("/price", params={"ts_code": STOCK}).json()
    assert (body["source"], body["stale"], body["cached"]) == ("akshare", False, False)
    assert body["price"] == pytest.approx(expected, abs=0.0101)  # to the fen
    assert body["trade_date"] == "20240731" and body["market_phase"] == "morning"
    assert body["as_of"].startswith("2024-07-31T10:30")
    calls = served.sim.stats().get("akshare:kline", 0)
    trading.now += timedelta(seconds=3)
    again = client.get("/price", params={"ts_code": STOCK}).json()
    assert again["cached"] is True and served.sim.stats().get("akshare:kline", 0) == calls


def test_akshare_down_falls_back_to_the_warehouse_stale(
    client: TestClient, trading: Clock, served: Served
) -> None:
    served.sim.eastmoney.configure(AkshareFaults(down=True))
    body = client.get("/price", params={"ts_code": STOCK}).json()
    assert (body["source"], body["stale"]) == ("warehouse", True)
    assert body["note"].startswith("akshare: ") and "JSONDecodeError" in body["note"]  # 502 page
    assert body["expires_at"].startswith("2024-07-31T10:30:05")  # retried after 5 s


def test_missing_akshare_is_provider_unavailable_and_the_app_still_serves(
    client: TestClient, trading: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(akshare_client, "_module", None)
    monkeypatch.setitem(sys.modules, "akshare", None)  # `import akshare` now raises ImportError
    body = client.get("/price", params={"ts_code": STOCK}).json()
    assert body["source"] == "warehouse" and body["stale"] is True
    assert "provider unavailable: akshare cannot be imported" in body["note"]


def test_akshare_disabled_registers_only_the_warehouse(served: Served, tmp_path) -> None:
    from twilight_serve.app import create_app

    settings = served.settings(bearer_db_path=tmp_path / "t.sqlite", akshare_enabled=False)
    app = create_app(settings)
    with TestClient(app):
        assert app.state.providers.names() == ["warehouse"]
