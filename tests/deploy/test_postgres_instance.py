"""The production instance (deploy/dagster.yaml on Postgres) runs a real materialization.

deploy/entrypoint.sh runs as a container starts it: it installs the Postgres dagster.yaml and
sets the "tushare" pool's limit. The calendar is then materialized in this process, and a range
of daily partitions through the Dagster CLI with the multiprocess executor, its steps claiming
pool slots in Postgres. The runs, their materializations and the pool limit must be in Postgres
afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from tests.deploy.conftest import Postgres
from twilight_assets.runner import materialize_tables
from twilight_resources.settings import reset_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_sim.server import SimConfig, SimServer, start_simulator

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"
BIN = Path(sys.executable).parent
SIM = {"seed": 11, "n_stocks": 8, "start_date": "20240501", "end_date": "20240630"}
DAYS = ("20240603", "20240607")  # one trading week, no holiday


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as server:
        yield server


def container_env(home: Path, sim: SimServer, pg: Postgres) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
    return {
        **env, **pg.env,
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "TWILIGHT_APP_DIR": str(REPO),
        "TWILIGHT_HOME": str(home),
        "TWILIGHT_TUSHARE_API_URL": sim.url,
        "TWILIGHT_CALLS_PER_MINUTE": "100000",
        "TWILIGHT_HISTORY_START": SIM["start_date"],
        "TWILIGHT_RETRY_BACKOFF_BASE": "0.01",
        "TWILIGHT_TUSHARE_POOL_LIMIT": "3",
    }  # fmt: skip


def in_container(env: dict[str, str], *argv: str) -> None:
    proc = subprocess.run(
        [str(ENTRYPOINT), *argv], env=env, cwd=REPO, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, f"{argv}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_postgres_instance_runs_a_materialization(
    tmp_path: Path, sim: SimServer, postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    env = container_env(home, sim, postgres_server)
    # The daemon container's start-up: instance config in place, the upstream pool's limit set.
    in_container(env, "dagster-daemon", "--version")
    for key, value in env.items():
        if key.startswith(("TWILIGHT_", "DAGSTER_")):
            monkeypatch.setenv(key, value)
    reset_settings()
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        # In this process: the calendar (and with it the trade-date partitions).
        assert all(r.success for r in materialize_tables(["trade_cal"], instance))
    # As the daemon would run it: the CLI, the multiprocess executor, steps claiming pool slots.
    in_container(
        env, "dagster", "asset", "materialize", "-m", "twilight_assets.definitions",
        "--select", "raw/daily,normalized/daily", "--partition-range", f"{DAYS[0]}...{DAYS[1]}",
    )  # fmt: skip

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        runs = instance.get_runs()
        assert len(runs) == 2 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        assert instance.event_log_storage.get_concurrency_info("tushare").slot_count == 3
        materialized = instance.get_materialized_partitions(AssetKey(["normalized", "daily"]))
        assert {DAYS[0], DAYS[1]} <= materialized and len(materialized) == 5
        assert "20240603" in instance.get_dynamic_partitions("trade_dates")
    with WarehouseReader(home / "warehouse" / "warehouse.duckdb") as reader:
        days = reader.query("SELECT count(DISTINCT trade_date) AS n FROM normalized_daily")
    assert int(days["n"].iloc[0]) == 5
