"""A warehouse filled from the simulator once per session, and the real app over it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from dagster import instance_for_test
from fastapi.testclient import TestClient

from twilight_resources.calendar import MARKET_TZ
from twilight_resources.settings import TwilightSettings, load_settings, reset_settings
from twilight_serve.app import create_app
from twilight_serve.auth import TokenStore
from twilight_sim.server import SimConfig, SimServer, start_simulator

SIM = {"seed": 11, "n_stocks": 8, "start_date": "20240501", "end_date": "20240731"}
TABLES = [
    "trade_cal", "stock_basic", "index_basic", "daily", "adj_factor", "daily_basic", "weekly",
    "monthly", "index_daily",
]  # fmt: skip


@dataclass
class Served:
    """The session's simulator and the TWILIGHT_HOME whose warehouse it filled."""

    sim: SimServer
    home: Path

    def settings(self, **overrides: object) -> TwilightSettings:
        return load_settings(
            home=self.home,
            tushare_api_url=self.sim.url,
            calls_per_minute=100_000,
            history_start=SIM["start_date"],
            **overrides,
        )


class Clock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def market_time(text: str) -> datetime:
    """``YYYYMMDD HH:MM`` on the exchange's clock."""
    return datetime.strptime(text, "%Y%m%d %H:%M").replace(tzinfo=MARKET_TZ)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from twilight_assets.runner import materialize_tables

    home = tmp_path_factory.mktemp("serve") / "home"
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as sim:
        with pytest.MonkeyPatch.context() as mp:
            for name in list(os.environ):
                if name.startswith("TWILIGHT_"):
                    mp.delenv(name)
            mp.setenv("TWILIGHT_HOME", str(home))
            mp.setenv("TWILIGHT_TUSHARE_API_URL", sim.url)
            mp.setenv("TWILIGHT_CALLS_PER_MINUTE", "100000")
            mp.setenv("TWILIGHT_HISTORY_START", SIM["start_date"])
            reset_settings()
            with instance_for_test() as instance:
                materialize_tables(TABLES[:3], instance)
                materialize_tables(TABLES[3:], instance)
        reset_settings()
        yield Served(sim, home)


@pytest.fixture
def clock() -> Clock:
    return Clock(market_time("20240731 16:00"))


@pytest.fixture
def settings(served: Served, tmp_path: Path) -> TwilightSettings:
    """The session warehouse, with a token store of this test's own."""
    return served.settings(bearer_db_path=tmp_path / "tokens.sqlite")


def create_token(settings: TwilightSettings, user: str = "alice") -> str:
    store = TokenStore(settings.bearer_db_file)
    try:
        return store.create(user)
    finally:
        store.close()


@pytest.fixture
def token_for() -> Callable[[TwilightSettings], str]:
    return create_token


@pytest.fixture
def token(settings: TwilightSettings) -> str:
    return create_token(settings)


@pytest.fixture
def client(settings: TwilightSettings, token: str, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client
