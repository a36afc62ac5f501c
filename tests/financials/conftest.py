"""A small simulated market across the April 2024 disclosure season, and a home pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from dagster import AssetsDefinition, DagsterInstance, RunRequest, instance_for_test, materialize

from twilight_assets.definitions import defs
from twilight_resources.settings import reset_settings
from twilight_sim.server import SimConfig, SimServer, start_simulator

# Annual reports 2023 and Q1 2024 come out through April; one 2023 report is restated in May.
SIM = {"seed": 7, "n_stocks": 16, "start_date": "20231101", "end_date": "20240531"}
HISTORY_START = "20231201"
T3 = ("income", "balancesheet", "cashflow", "fina_indicator", "forecast", "express")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as server:
        yield server


@pytest.fixture
def configure(
    twilight_home: Path, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Path, str], None]:
    """Point the platform at ``home`` in financials ``mode`` (settings re-read)."""

    def apply(home: Path, mode: str) -> None:
        monkeypatch.setenv("TWILIGHT_HOME", str(home))
        monkeypatch.setenv("TWILIGHT_TUSHARE_API_URL", sim.url)
        monkeypatch.setenv("TWILIGHT_CALLS_PER_MINUTE", "100000")
        monkeypatch.setenv("TWILIGHT_HISTORY_START", HISTORY_START)
        monkeypatch.setenv("TWILIGHT_FINANCIALS_MODE", mode)
        reset_settings()

    return apply


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


def run_request(apis: Sequence[str], instance: DagsterInstance, request: RunRequest) -> bool:
    """Run what a schedule or sensor asked for, with its config and tags, as the daemon would."""
    assets = [
        a for a in defs.assets or [] if isinstance(a, AssetsDefinition) and a.key.path[-1] in apis
    ]
    result = materialize(
        assets,
        instance=instance,
        resources=defs.resources,
        partition_key=request.partition_key,
        run_config=dict(request.run_config or {}),
        tags=dict(request.tags),
        raise_on_error=False,
    )
    return result.success
