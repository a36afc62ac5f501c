"""One simulated market for the harness, and the fault-free warehouse every scenario must match."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import instance_for_test

from tests.reliability.harness import SIM, TableSum, checksums, platform, platform_env, run_backfill
from twilight_sim.server import SimConfig, SimServer, start_simulator


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as server:
        yield server


@pytest.fixture
def clean_sim(sim: SimServer) -> Iterator[SimServer]:
    """The shared simulator with no fault and fresh counters, left that way afterwards."""
    sim.set_faults({})
    sim.set_policy(tokens=None)
    sim.reset_stats()
    yield sim
    sim.set_faults({})
    sim.set_policy(tokens=None)


@pytest.fixture(scope="session")
def reference_home(sim: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TWILIGHT_HOME of the backfill run without any fault."""
    home = tmp_path_factory.mktemp("reference") / "home"
    sim.set_faults({})
    with platform(platform_env(home, sim.url)), instance_for_test() as instance:
        assert all(run_backfill(instance))
    return home


@pytest.fixture(scope="session")
def reference(sim: SimServer, reference_home: Path) -> dict[str, TableSum]:
    """Checksums of the backfill run without any fault."""
    with platform(platform_env(reference_home, sim.url)):
        sums = checksums(reference_home)
    assert all(s.rows > 0 for s in sums.values()), sums
    return sums


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"
