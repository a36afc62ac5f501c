"""/price: source chosen by market state, cache lifetime following it (time injected)."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import Clock, Served, market_time
from twilight_resources.providers import Capability, Quote
from twilight_resources.sessions import Phase
from twilight_resources.tushare import client_from_settings
from twilight_resources.warehouse import publish_snapshot
from twilight_serve.last_close import WarehouseLastCloseProvider
from twilight_serve.market_state import market_state

STOCK = "000001.SZ"


def close_on(served: Served, day: str) -> float:
    frame = client_from_settings(served.settings()).query(
        "daily", {"ts_code": STOCK, "start_date": day, "end_date": day}
    )
    return float(frame["close"].iloc[0])


def price(client: TestClient) -> dict:
    got = client.get("/price", params={"ts_code": STOCK})
    assert got.status_code == 200, got.text
    return got.json()


def expires(body: dict) -> datetime:
    return datetime.fromisoformat(body["expires_at"])


def test_after_close_answers_the_last_close_until_the_next_open(
    client: TestClient, clock: Clock, served: Served
) -> None:
    clock.now = market_time("20240731 16:00")
    body = price(client)
    assert body["price"] == pytest.approx(close_on(served, "20240731"))
    assert (body["source"], body["trade_date"], body["stale"], body["cached"]) == (
        "warehouse", "20240731", False, False,
    )  # fmt: skip
    assert body["market_phase"] == "after_close"
    assert expires(body) == market_time("20240801 09:30")
    clock.now = market_time("20240801 09:29")
    assert price(client)["cached"] is True
    clock.now = market_time("20240801 09:30")
    assert price(client)["cached"] is False


def test_trading_with_no_live_provider_serves_the_warehouse_stale_briefly(
    client: TestClient, clock: Clock
) -> None:
    clock.now = market_time("20240801 10:00")
    body = price(client)
    assert body["market_phase"] == "morning"
    assert (body["source"], body["stale"]) == ("warehouse", True)
    assert expires(body) == clock.now + timedelta(seconds=5)
    clock.now += timedelta(seconds=4)
    assert price(client)["cached"] is True
    clock.now += timedelta(seconds=2)
    assert price(client)["cached"] is False


def test_lunch_break_caches_until_the_afternoon_open(client: TestClient, clock: Clock) -> None:
    clock.now = market_time("20240801 12:00")
    body = price(client)
    assert body["market_phase"] == "lunch_break"
    assert expires(body) == market_time("20240801 13:00")


def test_holiday_caches_until_the_next_session(client: TestClient, clock: Clock) -> None:
    clock.now = market_time("20241001 11:00")  # National Day week: next open 8 October
    body = price(client)
    assert body["market_phase"] == "closed_day"
    assert expires(body) == market_time("20241008 09:30")
    clock.now = market_time("20241007 20:00")
    assert price(client)["cached"] is True


def test_after_close_with_the_warehouse_behind_is_stale(client: TestClient, clock: Clock) -> None:
    clock.now = market_time("20240801 16:00")  # the warehouse stops at 31 July
    body = price(client)
    assert (body["trade_date"], body["stale"]) == ("20240731", True)


def test_a_new_snapshot_invalidates_the_cache(
    client: TestClient, clock: Clock, served: Served
) -> None:
    clock.now = market_time("20240731 16:00")
    price(client)
    assert price(client)["cached"] is True
    generation = publish_snapshot(served.settings().warehouse_file).generation
    deadline = time.monotonic() + 10  # the reader switches in the background
    while client.app.state.reader.snapshot_info().generation < generation:
        assert time.monotonic() < deadline, "the new snapshot was never served"
        time.sleep(0.02)
    assert price(client)["cached"] is False


def test_unknown_stock_is_404(client: TestClient) -> None:
    got = client.get("/price", params={"ts_code": "999999.SH"})
    assert got.status_code == 404 and "999999.SH" in got.json()["detail"]


class FakeLive:
    name = "live"
    capabilities = frozenset({Capability.INTRADAY_QUOTE})
    phases = frozenset({Phase.MORNING, Phase.AFTERNOON})

    def quote(self, ts_code: str) -> Quote:
        return Quote(ts_code, 12.34, date(2024, 8, 1), market_time("20240801 10:00"), self.name)


def test_a_registered_live_provider_answers_during_trading_only(
    client: TestClient, clock: Clock
) -> None:
    app = client.app
    app.state.providers.register(FakeLive())  # how a live provider (AKShare) plugs in
    clock.now = market_time("20240801 10:00")
    body = price(client)
    assert (body["source"], body["price"], body["stale"]) == ("live", 12.34, False)
    clock.now = market_time("20240801 16:00")
    assert price(client)["source"] == "warehouse"


@pytest.mark.parametrize(
    ("moment", "phase"),
    [
        ("20240801 09:00", Phase.PRE_OPEN),
        ("20240801 09:30", Phase.MORNING),
        ("20240801 11:30", Phase.LUNCH_BREAK),
        ("20240801 13:00", Phase.AFTERNOON),
        ("20240801 15:00", Phase.AFTER_CLOSE),
        ("20240803 10:00", Phase.CLOSED_DAY),  # Saturday
        ("20240610 10:00", Phase.CLOSED_DAY),  # Dragon Boat Festival
        ("20300101 10:00", Phase.UNKNOWN),  # beyond the stored calendar: treated as closed
    ],
)
def test_phases(client: TestClient, moment: str, phase: Phase) -> None:
    calendar = client.app.state.market.calendar
    state = market_state(calendar, market_time(moment))
    assert state.phase is phase
    assert state.is_trading is (phase in (Phase.MORNING, Phase.AFTERNOON))


def test_warehouse_provider_declares_last_close(client: TestClient) -> None:
    provider = WarehouseLastCloseProvider(client.app.state.reader)
    assert client.app.state.providers.select(Capability.LAST_CLOSE, Phase.MORNING)[0].name == (
        provider.name
    )
    live = client.app.state.providers.select(Capability.INTRADAY_QUOTE, Phase.MORNING)
    assert [p.name for p in live] == ["akshare"]  # AKShare's quote, registered by default
    assert client.app.state.providers.select(Capability.INTRADAY_QUOTE, Phase.AFTER_CLOSE) == []
