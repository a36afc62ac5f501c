"""A backfill killed with SIGKILL, then rerun from the CLI: no call spent twice, same warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from tests.assets.conftest import SIM
from twilight_app.instance import DAGSTER_YAML
from twilight_assets.partitions import trade_dates
from twilight_assets.runner import keys_in_range, materialize_tables
from twilight_resources.settings import get_settings, reset_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_sim.server import SimServer

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def cli_env(home: Path, sim: SimServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIGHT_")}
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_bytes(DAGSTER_YAML.read_bytes())
    return {
        **env,
        "TWILIGHT_HOME": str(home),
        "TWILIGHT_TUSHARE_API_URL": sim.url,
        "TWILIGHT_CALLS_PER_MINUTE": "100000",
        "TWILIGHT_MAX_IN_FLIGHT": "1",
        "TWILIGHT_HISTORY_START": SIM["start_date"],
        "DAGSTER_HOME": str(home / "dagster"),
    }


def materialize_cli(env: dict[str, str], select: str, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [DAGSTER, "asset", "materialize", "-m", "twilight_assets.definitions",
           "--select", select, *extra]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, cwd=REPO, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def daily_table(home: Path) -> pd.DataFrame:
    with WarehouseReader(home / "warehouse" / "warehouse.duckdb") as reader:
        frame = reader.query("SELECT * FROM normalized_daily ORDER BY ts_code, trade_date")
    return frame.drop(columns=["ingested_at", "raw_id"])


def test_killed_backfill_resumes_without_refetching(
    tmp_path: Path, sim: SimServer, platform: Path, instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Reference: an uninterrupted run in its own home.
    materialize_tables(["trade_cal", "daily"], instance)
    keys = keys_in_range(instance, trade_dates, "0", "9")
    expected = daily_table(platform)

    home = tmp_path / "interrupted"
    env = cli_env(home, sim)
    assert materialize_cli(env, "raw/trade_cal,normalized/trade_cal").wait(timeout=180) == 0
    sim.reset_stats()
    sim.set_faults({"latency_rate": 1.0, "latency_ms": 150, "apis": ["daily"]})
    selection = "raw/daily,normalized/daily"
    span = f"{keys[0]}...{keys[-1]}"
    proc = materialize_cli(env, selection, "--partition-range", span)
    deadline = time.monotonic() + 120
    while sim.stats().get("daily", 0) < len(keys) // 3:
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before the kill"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    spent_before_kill = sim.stats()["daily"]
    assert 0 < spent_before_kill < len(keys)
    # Every answer that reached the client is in the spool; only the one call in flight when
    # the process died (TWILIGHT_MAX_IN_FLIGHT=1) can have been spent without an answer.
    received = len(list((home / "spool" / "daily").glob("*.json")))
    assert spent_before_kill - 1 <= received <= spent_before_kill

    sim.reset_stats()
    sim.set_faults({})
    assert materialize_cli(env, selection, "--partition-range", span).wait(timeout=300) == 0
    assert sim.stats()["daily"] == len(keys) - received, "an answer already received was refetched"
    assert not list((home / "spool").rglob("*.json")), "answers written stay in the spool"
    monkeypatch.setenv("TWILIGHT_HOME", str(home))
    reset_settings()
    assert get_settings().home == home
    pd.testing.assert_frame_equal(daily_table(home), expected)
