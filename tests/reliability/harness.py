"""Shared pieces of the reliability harness: a small market, a backfill, warehouse checksums.

The same backfill (reference tables, then four weeks of daily, adj_factor and weekly bars) is
run fault-free once, then under SIGKILLs, upstream faults and a recognizable token; each run's
normalized tables are hashed without their lineage columns (``ingested_at``, ``raw_id``: when
and in which fetch a row arrived, which legitimately differ) and compared with the fault-free
hashes. ``bench/bench_reliability.py`` runs the same code on a bigger market.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from dagster import DagsterInstance

from twilight_app.instance import DAGSTER_YAML
from twilight_assets.runner import materialize_tables
from twilight_resources.settings import reset_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.rawfile import raw_path
from twilight_sim.server import SimServer

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# June 2024: Dragon Boat holiday inside, a month end; May and early July around it.
SIM = {"seed": 7, "n_stocks": 10, "start_date": "20240501", "end_date": "20240705"}
HISTORY_START = "20240603"
REFERENCE = ("trade_cal", "stock_basic")
BACKFILL = ("daily", "adj_factor", "weekly")
RESUMABLE = BACKFILL  # fetched once per partition: a rerun must not ask again
LINEAGE = ("ingested_at", "raw_id")


@dataclass(frozen=True)
class TableSum:
    rows: int
    digest: str


def platform_env(
    home: Path, sim_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a platform process on ``home`` fetching from the simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_bytes(DAGSTER_YAML.read_bytes())
    return {
        **env,
        "TWILIGHT_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "TWILIGHT_TUSHARE_API_URL": sim_url,
        "TWILIGHT_CALLS_PER_MINUTE": "100000",
        "TWILIGHT_HISTORY_START": HISTORY_START,
        "TWILIGHT_RETRY_BACKOFF_BASE": "0.01",
        # Random refusals (a fault rate) are no throttle to learn from: pause briefly, recover.
        "TWILIGHT_RATE_PAUSE_SECONDS": "0.05",
        "TWILIGHT_RATE_PROBE_SECONDS": "0",
        **(extra or {}),
    }


@contextmanager
def platform(env: Mapping[str, str]) -> Iterator[None]:
    """Run in-process with ``env``'s TWILIGHT_*/DAGSTER_* settings, restored afterwards."""
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith(("TWILIGHT_", "DAGSTER_"))]:
            del os.environ[name]
        os.environ.update({k: v for k, v in env.items() if k.startswith(("TWILIGHT_", "DAGSTER_"))})
        reset_settings()
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_settings()


def run_backfill(instance: DagsterInstance, tables: Sequence[str] = BACKFILL) -> list[bool]:
    """Reference tables, then every partition of ``tables``; each group's run success."""
    results = materialize_tables(list(REFERENCE), instance)
    results += materialize_tables(list(tables), instance)
    return [r.success for r in results]


def checksums(home: Path, tables: Sequence[str] = (*REFERENCE, *BACKFILL)) -> dict[str, TableSum]:
    """Row count and SHA-256 of each normalized table, sorted, without lineage columns."""
    out = {}
    with WarehouseReader(home / "warehouse" / "warehouse.duckdb") as reader:
        for api in tables:
            frame = reader.query(
                f"SELECT * EXCLUDE ({', '.join(LINEAGE)}) FROM normalized_{api} ORDER BY ALL"
            )
            text = frame.to_csv(index=False, float_format="%.10g")
            out[api] = TableSum(len(frame), hashlib.sha256(text.encode()).hexdigest())
    return out


def raw_query(home: Path, sql: str) -> pd.DataFrame:
    """``sql`` over the raw file (no snapshot holds it), the warehouse file attached as ``wh``;
    for tests only, once no writer runs."""
    warehouse = home / "warehouse" / "warehouse.duckdb"
    conn = duckdb.connect(str(raw_path(warehouse)), read_only=True)
    try:
        conn.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        return conn.execute(sql).df()
    finally:
        conn.close()


def raw_checksums(home: Path, tables: Sequence[str] = BACKFILL) -> dict[str, TableSum]:
    """Like :func:`checksums` for the raw tables, without when and under which id a row was
    fetched: a rerun's fetch time differs, its rows must not."""
    out = {}
    for api in tables:
        frame = raw_query(
            home, f"SELECT * EXCLUDE (raw_id, fetched_at) FROM raw_{api} ORDER BY ALL"
        )
        text = frame.to_csv(index=False)
        out[api] = TableSum(len(frame), hashlib.sha256(text.encode()).hexdigest())
    return out


def compare(expected: Mapping[str, TableSum], actual: Mapping[str, TableSum]) -> list[str]:
    """Tables whose rows or digest differ from the reference."""
    return [api for api in expected if expected[api] != actual.get(api)]


@dataclass(frozen=True)
class ChaosFigures:
    attempts: int
    killed: int
    upstream_calls: int  # calls of the resumable tables, over every attempt
    partitions: int  # partitions of the resumable tables the warehouse holds at the end


def _start_backfill(env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.backfill"], env=dict(env), cwd=REPO,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def resumable_calls(sim: SimServer) -> int:
    return sum(n for api, n in sim.stats().items() if api in RESUMABLE)


def held_partitions(home: Path) -> int:
    """Partitions of the resumable tables the raw file holds."""
    tables = ", ".join(f"'raw_{api}'" for api in RESUMABLE)
    frame = raw_query(
        home,
        "SELECT count(DISTINCT (table_name, partition_key)) AS n FROM meta_partition_latest "
        f"WHERE table_name IN ({tables})",
    )
    return int(frame["n"].iloc[0])


def chaos(
    sim: SimServer,
    env: Mapping[str, str],
    *,
    kills: int,
    seed: int,
    max_calls_between: int = 10,
    max_pause_s: float = 0.4,
    timeout_s: float = 240.0,
) -> ChaosFigures:
    """Start the backfill ``kills`` times, SIGKILL its process group at a random point each
    time, then run it to completion. A kill comes once the simulator has served a random
    1..``max_calls_between`` further calls, after a random pause of up to ``max_pause_s`` (so
    it lands while fetching, normalizing, writing or publishing).
    """
    rng = random.Random(seed)
    killed = attempts = 0
    for _ in range(kills):
        proc = _start_backfill(env)
        attempts += 1
        target = resumable_calls(sim) + rng.randint(1, max_calls_between)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and resumable_calls(sim) < target:
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError("the backfill made no progress")
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, max_pause_s))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
    proc = _start_backfill(env)
    attempts += 1
    try:
        code = proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 0, "the final, uninterrupted attempt failed"
    with platform(env):
        partitions = held_partitions(Path(env["TWILIGHT_HOME"]))
    return ChaosFigures(attempts, killed, resumable_calls(sim), partitions)


def report(name: str, **figures: object) -> str:
    line = f"[reliability] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    print(line, flush=True)
    return line
