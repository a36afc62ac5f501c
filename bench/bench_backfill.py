"""Benchmark a multi-table backfill against the simulator with realistic latency.

Each API has a budget of its own and the tables are fetched side by side, so the floor is the
slowest API's: max over APIs of calls x 60 / its calls-per-minute. The platform should stay
within 15% of it, i.e. fetching keeps the budget busy and Dagster, normalizing and writing add
little. Usage::

    python bench/bench_backfill.py [--stocks 5000] [--start 20220101] [--end 20241231]
        [--latency-ms 200] [--calls-per-minute 500] [--tables daily,adj_factor,daily_basic]
        [--chunk 200 --parallel 3 | --single-run] [--throttle 250 [--throttle-block-s 60]]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

``--throttle N`` makes the simulator refuse as real tokens are refused at times: below the stated
limit, past N calls of an API per minute, cooling the whole token down for a minute that every
call made meanwhile restarts. The floor is then taken at the rate actually granted (N, where it
is below the stated limit), and the bench prints the refusals and the time the token paused.

By default the range runs as ``twilight backfill`` does it (overlapped chunked runs); with
``--single-run`` as one ``dagster asset materialize --partition-range`` run.

The Dagster instance is the embedded default (SQLite under a temporary DAGSTER_HOME) or, with
``--postgres``, a throwaway database on that server (as deploy/ runs it): a range run records
one materialization per partition and asset, and SQLite commits each one separately.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from benchkit import become_subreaper, reap_adopted, start_simulator

from twilight_app.instance import DAGSTER_YAML
from twilight_assets.backfill import CHUNK, LAYERS


def start_sim(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    options = [
        "--stocks", str(args.stocks), "--start", args.start, "--end", args.end,
        "--rate-limit", str(args.calls_per_minute), "--latency-rate", "1",
        "--latency-ms", str(args.latency_ms), "--jitter-ms", "40",
    ]  # fmt: skip
    if args.throttle:
        options += [
            "--throttle",
            str(args.throttle),
            "--throttle-block-s",
            str(args.throttle_block_s),
        ]
    return start_simulator(port, *options)


@contextlib.contextmanager
def instance_config(home: Path, postgres: str | None) -> Iterator[None]:
    """The embedded dagster.yaml, on a throwaway Postgres database if one is asked for."""
    config = DAGSTER_YAML.read_text(encoding="utf-8")
    if postgres is None:
        (home / "dagster.yaml").write_text(config)
        yield
        return
    import psycopg2

    name = f"twilight_bench_{secrets.token_hex(4)}"
    admin = psycopg2.connect(postgres)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    parts = urlsplit(postgres)
    url = urlunsplit(("postgresql+psycopg2", parts.netloc, f"/{name}", "", ""))
    (home / "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {url}\n" + config)
    try:
        yield
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def dagster(selection: list[str], *extra: str) -> None:
    """The documented backfill path: one CLI run, Dagster's multiprocess executor."""
    cmd = [
        str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
        "-m", "twilight_assets.definitions", "--select", ",".join(selection), *extra,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def phases(started: float) -> dict[str, float]:
    """Seconds from the command's start to the first run's start, the fetch steps, the end.

    Over every run the command started (one, or one per chunk).
    """
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.get()
    events = [
        r for run in instance.get_runs() for r in instance.all_logs(run.run_id)
        if r.is_dagster_event and r.timestamp >= started
    ]  # fmt: skip

    def at(kind: DagsterEventType, prefix: str = "") -> list[float]:
        return [
            r.timestamp - started
            for r in events
            if r.dagster_event
            and r.dagster_event.event_type == kind
            and (r.step_key or "").startswith(prefix)
        ]

    return {
        "run_start": min(at(DagsterEventType.RUN_START)),
        "fetch_start": min(at(DagsterEventType.STEP_START, "raw__")),
        "fetch_end": max(at(DagsterEventType.STEP_SUCCESS, "raw__")),
        "run_end": max(at(DagsterEventType.RUN_SUCCESS)),
    }


def twilight_backfill(args: argparse.Namespace) -> None:
    cmd = [
        sys.executable, "-m", "twilight_app", "backfill", "--tables", args.tables,
        "--start", args.start, "--end", args.end, "--chunk", str(args.chunk),
        "--parallel", str(args.parallel),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def children_cpu_s() -> float:
    """CPU seconds of every reaped descendant (the simulator, still running, is not one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def journal_pushback(home: Path) -> tuple[int, float]:
    """Refusals the client journalled, and wall seconds the token was paused (from the budget)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(home / "state" / "upstream.sqlite")) as conn:
        (refusals,) = conn.execute("SELECT coalesce(sum(refusals), 0) FROM calls").fetchone()
        (paused,) = conn.execute("SELECT coalesce(sum(paused_s), 0) FROM token_pause").fetchone()
        rates = conn.execute("SELECT key, rate FROM api_budget WHERE rate < 1e11").fetchall()
    for key, rate in rates:
        print(f"  learnt rate {key.split('/')[-1]}: {rate:.0f}/min")
    return int(refusals), float(paused)


def failed_runs() -> int:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    runs = DagsterInstance.get().get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    return len(runs)


def trade_dates() -> list[str]:
    from dagster import DagsterInstance

    return list(DagsterInstance.get().get_dynamic_partitions("trade_dates"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--start", default="20220101")
    parser.add_argument("--end", default="20241231")
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--calls-per-minute", type=int, default=500)
    parser.add_argument("--tables", default="daily,adj_factor,daily_basic")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--chunk", type=int, default=CHUNK, help="partitions per chunk run")
    parser.add_argument("--parallel", type=int, default=3, help="chunk runs at a time, at most")
    parser.add_argument("--single-run", action="store_true", help="one range run instead")
    parser.add_argument("--postgres", help="server URL for a throwaway Dagster instance database")
    parser.add_argument(
        "--throttle",
        type=int,
        default=None,
        help="the simulator refuses past N calls/min of an API (below the limit)",
    )
    parser.add_argument("--throttle-block-s", type=float, default=60.0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="twilight-bench-"))
    os.environ.update(
        TWILIGHT_HOME=str(home),
        TWILIGHT_TUSHARE_API_URL=f"http://127.0.0.1:{args.port}",
        TWILIGHT_CALLS_PER_MINUTE=str(args.calls_per_minute),
        TWILIGHT_HISTORY_START=args.start,
        DAGSTER_HOME=str(home / "dagster"),
    )
    (home / "dagster").mkdir(parents=True)
    with instance_config(home / "dagster", args.postgres):
        run(args)


def run(args: argparse.Namespace) -> None:
    become_subreaper()
    sim = start_sim(args, args.port)
    try:
        dagster(["raw/trade_cal", "normalized/trade_cal"])
        httpx.post(f"http://127.0.0.1:{args.port}/_sim/reset")
        keys = sorted(k for k in trade_dates() if args.start <= k <= args.end)
        selection = [f"{layer}/{t}" for t in args.tables.split(",") for layer in LAYERS]
        started, epoch = time.monotonic(), time.time()
        cpu_before = children_cpu_s()
        if args.single_run:
            dagster(selection, "--partition-range", f"{keys[0]}...{keys[-1]}")
        else:
            twilight_backfill(args)
        wall = time.monotonic() - started
        reap_adopted({sim.pid})
        pipeline_cpu = children_cpu_s() - cpu_before
        steps = phases(epoch)
        stats = httpx.get(f"http://127.0.0.1:{args.port}/_sim/stats").json()
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait()
    # The floor is Tushare's budget, per API (fetched side by side) at the rate granted; the
    # cross-source check's AKShare calls ("akshare:...") go to another source, reported apart.
    calls = {api: n for api, n in stats["calls"].items() if not api.startswith("akshare:")}
    granted = min(args.calls_per_minute, args.throttle or args.calls_per_minute)
    refused = {api: sum(kind.get(api, 0) for kind in stats["refused"].values()) for api in calls}
    answered = {api: n - refused[api] for api, n in calls.items()}
    floor = max(n * 60 / granted for n in answered.values())
    pushback = journal_pushback(Path(os.environ["TWILIGHT_HOME"]))
    instance = "Postgres" if args.postgres else "SQLite (embedded default)"
    mode = (
        "one range run"
        if args.single_run
        else f"twilight backfill --chunk {args.chunk} --parallel {args.parallel}"
    )
    print(
        f"tables: {args.tables}; {args.stocks} stocks, {args.start}..{args.end}; {mode}; "
        f"Dagster instance on {instance}"
    )
    throttle = f", throttled at {args.throttle}/min" if args.throttle else ""
    print(
        f"upstream latency {args.latency_ms:.0f} ms (+-40), budget {args.calls_per_minute}/min "
        f"per API{throttle}"
    )
    print(f"upstream calls: {sum(calls.values())} ({calls}), rows: {stats['total_rows']}")
    n_calls, n_rows = sum(answered.values()), sum(stats["rows"].get(api, 0) for api in calls)
    print(
        f"pipeline CPU (the backfill's process tree, not the simulator): {pipeline_cpu:.1f} s; "
        f"{pipeline_cpu / max(n_calls, 1) * 1e3:.1f} ms a call, "
        f"{pipeline_cpu / max(n_rows, 1) * 1e6:.1f} us a row (target: 60 ms a 5,000-row call)"
    )
    print(
        f"answered once each: {answered}; refused: {sum(refused.values())} "
        f"({stats['refused'] or 0}); token paused {pushback[1]:.0f} s (wall) over "
        f"{pushback[0]} refusals seen by the client"
    )
    print(f"errors answered by the upstream: {stats['errors'] or 0}")
    print(f"failed runs: {failed_runs()}")
    print(f"wall time: {wall:.1f} s; floor: {floor:.1f} s; ratio wall/floor: {wall / floor:.3f}")
    fetch = steps["fetch_end"] - steps["fetch_start"]
    print(
        f"  command to run start {steps['run_start']:.1f} s, to first fetch step "
        f"{steps['fetch_start']:.1f} s; fetch steps (with raw writes) {fetch:.1f} s "
        f"(ratio {fetch / floor:.3f}); "
        f"after fetching {wall - steps['fetch_end']:.1f} s (normalize, write, checks, exit)"
    )


if __name__ == "__main__":
    main()
