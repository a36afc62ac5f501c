"""Fixtures for the simulator suites: the real Tushare fixtures and running simulators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from twilight_sim.market import Market
from twilight_sim.server import SimConfig, SimServer
from twilight_sim.testing import running_simulator

SEED = 7
N_STOCKS = 120


@pytest.fixture(scope="session")
def market() -> Market:
    return Market(seed=SEED, n_stocks=N_STOCKS)


@pytest.fixture(scope="session")
def sim(market: Market) -> Iterator[SimServer]:
    """A shared read-only simulator (no rate limit); tests that change settings use their own."""
    server = SimServer(
        SimConfig(seed=SEED, n_stocks=N_STOCKS, rate_limit_per_minute=None), market=market
    ).start()
    yield server
    server.stop()


@pytest.fixture
def small_sim() -> Iterator[SimServer]:
    """A private small simulator for tests that change faults, limits or the clock."""
    with running_simulator(seed=3, n_stocks=30, start_date="20230101") as server:
        yield server
