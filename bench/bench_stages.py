"""CPU per upstream call of each pipeline stage, run in-process on the simulator's real answers.

bench_backfill.py measures the whole backfill's CPU (Dagster's processes included); this bench
calls each stage a backfill step runs, in the order a step runs them, on one chunk of trade
dates, and prints the CPU milliseconds each stage costs per call. What bench_backfill measures
beyond the sum is Dagster's own work (processes, event log). Usage::

    python bench/bench_stages.py [--stocks 5000] [--start 20240102] [--dates 20]
        [--tables daily,adj_factor,daily_basic] [--profile STAGE]

``--profile STAGE`` prints the functions that STAGE spends its time in (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pandas as pd
from benchkit import start_simulator

from twilight_app.instance import DAGSTER_YAML

T = TypeVar("T")


class Stages:
    """CPU seconds (all threads: DuckDB's too) spent in each named stage."""

    def __init__(self, profiled: str | None) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.profiled = profiled
        self.profile = cProfile.Profile(time.process_time)  # CPU, not waiting

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        profiling = name == self.profiled
        if profiling:
            self.profile.enable()
        started = time.process_time()
        try:
            yield
        finally:
            self.cpu[name] += time.process_time() - started
            if profiling:
                self.profile.disable()

    def run(self, name: str, fn: Callable[[], T]) -> T:
        with self.stage(name):
            return fn()


def start_sim(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    return start_simulator(
        args.port, "--stocks", str(args.stocks), "--start", args.start, "--end", args.end
    )


def load_calendar(args: argparse.Namespace) -> list[str]:
    """Materialize trade_cal (as a backfill does first) and return the chunk's trade dates."""
    cmd = [
        str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
        "-m", "twilight_assets.definitions", "--select", "raw/trade_cal,normalized/trade_cal",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from dagster import DagsterInstance

    keys = sorted(DagsterInstance.get().get_dynamic_partitions("trade_dates"))
    return [k for k in keys if args.start <= k <= args.end][: args.dates]


def run_table(api: str, keys: list[str], stages: Stages) -> int:
    """One table's steps over ``keys``, as the raw and normalized assets run them."""
    from twilight_assets import checks as check_kinds
    from twilight_assets.definitions import CHECK_KINDS
    from twilight_assets.factory import _date_range, _label
    from twilight_assets.tables import TABLES
    from twilight_resources.catalog import CATALOG
    from twilight_resources.settings import get_settings
    from twilight_resources.spool import FetchSpool
    from twilight_resources.tushare.resource import client_from_settings
    from twilight_resources.warehouse import WarehouseReader, table_spec
    from twilight_resources.warehouse.io_manager import RawPartitions, output_metadata
    from twilight_resources.warehouse.writer import WarehouseWriter

    settings = get_settings()
    table, entry = TABLES[api], CATALOG[api]
    client = client_from_settings(settings)
    spool = FetchSpool(settings.home / "spool")
    spec = table_spec(f"raw_{api}")
    requests = [
        type(r)(r.api_name, r.params, r.fields or spec.data_columns, r.tag)
        for r in table.plan(keys, settings)
    ]
    frames = []
    for req in requests:
        with stages.stage("fetch + parse"):
            frame = client.query(req.api_name, req.params, req.fields)
        with stages.stage("spool put"):
            fetched_at = spool.put(req.api_name, req.params, frame)
        with stages.stage("label"):
            frames.append(_label(frame, req, None, fetched_at))
    raw = stages.run("label", lambda: pd.concat(frames, ignore_index=True))
    writer = WarehouseWriter.from_settings(settings)
    result = stages.run("raw write", lambda: writer.write(f"raw_{api}", raw, keys))
    stages.run("metadata", lambda: output_metadata(result, raw, 5))
    raw_input = RawPartitions(f"raw_{api}", tuple(keys), writer)  # as the IO manager hands it
    source = (table.alternate.row_source,) if table.alternate is not None else ()
    batch = stages.run("normalize", lambda: raw_input.normalize(f"normalized_{api}", *source))
    result = stages.run("upsert", lambda: writer.write(f"normalized_{api}", batch, keys))
    stages.run("metadata", lambda: (output_metadata(result, batch.clean, 5),
                                    _date_range(batch.clean)))  # fmt: skip
    nspec = table_spec(f"normalized_{api}")
    with stages.stage("checks"), WarehouseReader.from_settings(settings, pool_size=1) as reader:
        for kind in (k for k in CHECK_KINDS if k.name in entry.checks):  # as the check step does
            check_kinds.run_probe(
                nspec, kind.probe, kind.name, (keys[0], keys[-1]), entry.grain, reader
            )
    client.close()
    return len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--start", default="20240102")
    parser.add_argument("--end", default="20241231")
    parser.add_argument("--dates", type=int, default=20, help="trade dates in the chunk")
    parser.add_argument("--tables", default="daily,adj_factor,daily_basic")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--profile", help="stage to profile, e.g. normalize")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="twilight-stages-"))
    os.environ.update(
        TWILIGHT_HOME=str(home),
        TWILIGHT_TUSHARE_API_URL=f"http://127.0.0.1:{args.port}",
        TWILIGHT_CALLS_PER_MINUTE="100000",
        TWILIGHT_HISTORY_START=args.start,
        DAGSTER_HOME=str(home / "dagster"),
    )
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_bytes(DAGSTER_YAML.read_bytes())
    sim = start_sim(args)
    try:
        keys = load_calendar(args)
        stages = Stages(args.profile)
        calls = sum(run_table(api, keys, stages) for api in args.tables.split(","))
        rows = httpx.get(f"http://127.0.0.1:{args.port}/_sim/stats").json()["rows"]
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait()
    total_rows = sum(n for api, n in rows.items() if api in args.tables.split(","))
    print(
        f"{args.tables}: {args.stocks} stocks, {len(keys)} trade dates from {keys[0]}, one chunk; "
        f"{calls} calls, {total_rows} rows ({total_rows / calls:.0f} a call)"
    )
    print("| stage | CPU ms a call |\n|---|---|")
    for name, cpu in stages.cpu.items():
        print(f"| {name} | {cpu / calls * 1e3:.1f} |")
    total = sum(stages.cpu.values())
    print(f"| **all** | **{total / calls * 1e3:.1f}** ({total / total_rows * 1e6:.1f} us a row) |")
    if args.profile:
        stats: Any = pstats.Stats(stages.profile)
        stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
