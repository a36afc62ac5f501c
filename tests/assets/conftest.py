"""A small simulated market on loopback and a platform home pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from twilight_resources.settings import reset_settings
from twilight_sim.server import SimConfig, SimServer, start_simulator

# May to July: Labour Day and Dragon Boat holidays, and the ex-dividend season.
SIM = {"seed": 7, "n_stocks": 12, "start_date": "20240501", "end_date": "20240731"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as server:
        yield server


@pytest.fixture
def platform(twilight_home: Path, sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TWILIGHT_HOME configured for the simulator, with a budget that never waits."""
    monkeypatch.setenv("TWILIGHT_TUSHARE_API_URL", sim.url)
    monkeypatch.setenv("TWILIGHT_CALLS_PER_MINUTE", "100000")
    monkeypatch.setenv("TWILIGHT_HISTORY_START", SIM["start_date"])
    reset_settings()
    sim.reset_stats()
    return twilight_home


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst
