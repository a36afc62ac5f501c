"""Read API benchmark: /warehouse/daily (one stock, one year) and the fundamentals routes (one
stock) at a fixed rate, idle and writing.

    python bench/bench_api.py [--base-rows 10000000] [--rate 50] [--seconds 10]
        [--backfill-days 40] [--fundamentals-periods 40] [--idle-only] [--dir DIR]

Builds a normalized_daily table of ``--base-rows`` synthetic rows (4000 stocks) and the four
statement tables over ``--fundamentals-periods`` quarter ends, publishes them, starts
``twilight serve`` on loopback in its own session, and sends requests open-loop at ``--rate``
per second (latency counts from each request's scheduled time, so a stalled server shows up as
latency rather than as a lower rate). Phases:

- idle: /warehouse/daily, then /fundamentals and /warehouse/fundamentals (each
  ``--seconds``, after a 2-second warm-up of other stocks; ``--idle-only`` stops here);
- during a backfill: a real ``twilight backfill`` of daily, adj_factor and daily_basic over
  ``--backfill-days`` trading days from the simulator (200 ms a call, 500 calls a minute) into
  the same warehouse, for as long as it lasts (its writes publish snapshots of the whole file,
  but a writer with another one queued behind it leaves the copy to that one; the report says
  how many were published);
- stress: another process upserts a trading day and publishes a snapshot in a loop, about one a
  second, far more often than a backfill writes (reported, no target).

Target (idle and during a backfill): p99 <= 10 ms, 0 errors. Every process it starts is stopped
and reaped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backfill import dagster, start_sim, trade_dates  # noqa: E402
from bench_warehouse import STOCKS, build_base, rows_for  # noqa: E402

from twilight_app.instance import DAGSTER_YAML  # noqa: E402
from twilight_resources.priority import lower_priority  # noqa: E402
from twilight_resources.processes import spawn_session, stop_session  # noqa: E402
from twilight_resources.settings import get_settings  # noqa: E402
from twilight_resources.warehouse import WarehouseWriter, statement_rows, table_spec  # noqa: E402
from twilight_resources.warehouse.connections import connect  # noqa: E402
from twilight_resources.warehouse.snapshots import publish_snapshot, read_pointer  # noqa: E402
from twilight_serve.auth import TokenStore  # noqa: E402

TARGET_P99_MS = 10.0
WORKERS = 8  # concurrent connections of the load generator


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STATEMENT_TABLES = ("income", "balancesheet", "cashflow", "fina_indicator")
RESTATED_SHARE = 0.05  # reports announced again later (a restatement: a second version)


def build_fundamentals(path: Path, periods: int) -> None:
    """The four statement tables for every stock over ``periods`` quarter ends, period-major
    (the order the per-period fill writes them in), some reports restated; then re-sorted by key
    as the writer keeps them, with the row-shaped copy the read API answers from."""
    conn = connect(path, config={"memory_limit": "2GB"})
    ends = list(pd.date_range("2015-03-31", periods=periods, freq="QE"))
    conn.execute("CREATE TEMP TABLE ends AS SELECT * FROM (SELECT unnest(?) AS e)", [ends])
    for table in STATEMENT_TABLES:
        spec = table_spec(f"normalized_{table}")
        announced = "CAST(e AS DATE) + CAST(30 + v * 60 AS INTEGER)"  # v = 1: a restatement
        fixed = {
            "ts_code": "printf('%06d.SZ', s)", "end_date": "CAST(e AS DATE)",
            "report_type": "'1'", "ann_date": announced, "f_ann_date": announced,
            "source": "'tushare'", "ingested_at": "now()", "raw_id": "NULL",
        }  # fmt: skip
        values = [
            fixed.get(column, "round(random() * 1e9, 2)" if kind == "DOUBLE" else "NULL")
            for column, kind in spec.columns.items()
        ]
        conn.execute(
            f"INSERT INTO {spec.name} SELECT {', '.join(values)} FROM ends, range(?) AS s(s), "
            "range(2) AS v(v) WHERE v = 0 OR hash(s, e) % 1000 < ? ORDER BY e, v, s",
            [STOCKS, int(RESTATED_SHARE * 1000)],
        )
    statement_rows.rebuild(conn)
    conn.execute("CHECKPOINT")
    conn.close()


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = spawn_session(
            [sys.executable, "-m", "twilight_app", "serve", "--port", str(port)],
            env=env,
            stdout=out,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    stop_session(proc)
    raise SystemExit(f"the server did not start; see {log}")


def daily_paths(days: pd.DatetimeIndex, total: int) -> list[str]:
    """``total`` one-year /warehouse/daily requests of random stocks."""
    rng = np.random.default_rng(1)
    stocks = rng.integers(0, STOCKS, total)
    last = len(days) - 1
    ends = rng.integers(250, last + 1, total)
    return [
        "/warehouse/daily?" + urlencode({
            "ts_code": f"{stocks[i]:06d}.SZ",
            "start_date": days[ends[i] - 250].strftime("%Y%m%d"),
            "end_date": days[ends[i]].strftime("%Y%m%d"),
        })
        for i in range(total)
    ]  # fmt: skip


def fundamentals_paths(route: str, total: int, seed: int = 3) -> list[str]:
    """``total`` requests of ``route`` for random stocks; point in time mid-history for
    /warehouse/fundamentals."""
    rng = np.random.default_rng(seed)
    as_of = {"as_of": "20200115"} if route == "/warehouse/fundamentals" else {}
    return [
        f"{route}?" + urlencode({"ts_code": f"{code:06d}.SZ", **as_of})
        for code in rng.integers(0, STOCKS, total)
    ]


def _daily_ok(body: bytes) -> bool:
    return json.loads(body)["count"] > 0


def _statements_ok(body: bytes) -> bool:
    return all(json.loads(body)["statements"].values())


def load(
    host: str, port: int, token: str, paths: list[str], rate: float, ok: Callable[[bytes], bool]
) -> dict:
    """Open-loop requests of ``paths`` at ``rate``/s; latency from the scheduled send time.

    ``paths`` are built before the clock starts (the generator's own work is not latency);
    ``ok`` judges a 200 answer's body. Returns the raw slice (latencies, errors, wall time) for
    :func:`merge`.
    """
    total = len(paths)
    latencies: list[float] = []
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()
    counter = iter(range(total))
    # http.client keeps the load generator's own CPU cost (on the same 2 cores) low.
    clients = [http.client.HTTPConnection(host, port, timeout=10) for _ in range(WORKERS)]
    auth = {"Authorization": f"Bearer {token}"}
    for client in clients:  # connect before the clock starts
        client.request("GET", "/healthz")
        client.getresponse().read()
    started = time.perf_counter() + 0.2

    def worker(client: http.client.HTTPConnection) -> None:
        try:
            for i in counter:
                due = started + i / rate
                time.sleep(max(0.0, due - time.perf_counter()))
                try:
                    client.request("GET", paths[i], headers=auth)
                    response = client.getresponse()
                    answer = (response.status, response.read())
                except (OSError, http.client.HTTPException) as exc:
                    answer = (0, repr(exc).encode())
                    client.close()  # reconnects on the next request
                elapsed = (time.perf_counter() - due) * 1000  # until the whole body is read
                with lock:
                    latencies.append(elapsed)
                    answers.append(answer)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    errors = [  # checked after the run, so parsing bodies does not count as latency
        f"{status} {body[:100]!r}" for status, body in answers if status != 200 or not ok(body)
    ]
    return {"latencies": latencies, "error_list": errors, "wall": wall}


def writer_loop(path: str, days: list[pd.Timestamp], stop_event: Event, out: mp.Queue) -> None:
    """Upsert one trading day of every stock per write, publishing a snapshot after each.

    Runs at the batch niceness, as Dagster's steps do (TWILIGHT_BATCH_NICENESS).
    """
    lower_priority(get_settings().batch_niceness)
    writer = WarehouseWriter(path, memory_limit="1GB", threads=1, publish=True)
    rng = np.random.default_rng(2)
    writes, seconds = 0, []
    for day in days:
        if stop_event.is_set():
            break
        batch = rows_for(pd.DatetimeIndex([day]), rng)
        keys = sorted(set(batch["partition_key"]))
        seconds.append(writer.write("normalized_daily", batch, keys).seconds)
        writes += 1
    out.put((writes, seconds))


def merge(results: list[dict]) -> dict:
    """One report of several load slices."""
    ordered = sorted(x for r in results for x in r["latencies"])
    errors = [e for r in results for e in r["error_list"]]
    return {
        "requests": len(ordered),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "max_ms": ordered[-1],
        "throughput": len(ordered) / sum(r["wall"] for r in results),
    }


def report(label: str, result: dict, target: bool = True) -> None:
    met = result["p99_ms"] <= TARGET_P99_MS and result["errors"] == 0
    verdict = ("ok" if met else "MISSED") if target else "no target"
    print(
        f"{label}: {result['requests']:,} requests, {result['errors']} errors, "
        f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
        f"max {result['max_ms']:.1f} ms, {result['throughput']:.0f} req/s "
        f"[target p99 <= {TARGET_P99_MS:.0f} ms, 0 errors: {verdict}]"
    )
    if result["first_error"]:
        print(f"  first error: {result['first_error']}")


def run(work: Path, args: argparse.Namespace) -> None:
    home = work / "home"
    warehouse = home / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True)
    begin = time.perf_counter()
    days = build_base(warehouse, args.base_rows)
    if args.fundamentals_periods:
        build_fundamentals(warehouse, args.fundamentals_periods)
    info = publish_snapshot(warehouse)
    print(
        f"warehouse: {args.base_rows:,} rows of normalized_daily ({STOCKS} stocks x "
        f"{len(days)} days), statements of {STOCKS} stocks x {args.fundamentals_periods} "
        f"periods, snapshot {info.size_bytes / 1e6:.0f} MB, built in "
        f"{time.perf_counter() - begin:.0f} s"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIGHT_")}
    env["TWILIGHT_HOME"] = str(home)
    store = TokenStore(home / "state" / "tokens.sqlite")
    token = store.create("bench")
    store.close()
    port = _free_port()
    server = start_server(env, port, work / "server.log")
    try:

        def slice_(seconds: float) -> Callable[[], dict]:
            paths = daily_paths(days, int(args.rate * seconds))
            return lambda: load("127.0.0.1", port, token, paths, args.rate, _daily_ok)

        slice_(2)()  # warm-up: the first snapshot pool
        report("idle /warehouse/daily", merge([slice_(args.seconds)()]))
        if args.fundamentals_periods:
            for route in ("/fundamentals", "/warehouse/fundamentals"):
                warm = fundamentals_paths(route, int(args.rate * 2), seed=4)  # other stocks
                load("127.0.0.1", port, token, warm, args.rate, _statements_ok)
                paths = fundamentals_paths(route, int(args.rate * args.seconds))
                result = load("127.0.0.1", port, token, paths, args.rate, _statements_ok)
                report(f"idle {route}", merge([result]))
        if args.idle_only:
            return
        during_backfill(work, home, args, slice_(5))
        stress(warehouse, days, slice_(10))
    finally:
        stop_session(server)


def during_backfill(work: Path, home: Path, args: argparse.Namespace, slice_: Callable) -> None:
    """Load in slices for as long as a real CLI backfill runs against the simulator."""
    sim_port = _free_port()
    sim_args = argparse.Namespace(
        stocks=1000, start="20240101", end="20241231", calls_per_minute=500, latency_ms=200
    )
    os.environ.update(
        TWILIGHT_HOME=str(home),
        TWILIGHT_TUSHARE_API_URL=f"http://127.0.0.1:{sim_port}",
        TWILIGHT_CALLS_PER_MINUTE="500",
        TWILIGHT_HISTORY_START=sim_args.start,
        DAGSTER_HOME=str(home / "dagster"),
    )
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_bytes(DAGSTER_YAML.read_bytes())
    sim = start_sim(sim_args, sim_port)
    try:
        dagster(["raw/trade_cal", "normalized/trade_cal"])
        keys = sorted(trade_dates())[: args.backfill_days]
        tables = ("daily", "adj_factor", "daily_basic")
        cmd = [
            sys.executable, "-m", "twilight_app", "backfill",
            "--tables", ",".join(tables), "--start", keys[0], "--end", keys[-1],
        ]  # fmt: skip
        warehouse = home / "warehouse" / "warehouse.duckdb"
        generation = read_pointer(warehouse).generation
        # Started as batch work in a session of its own (spawn_session with a niceness): its
        # planning yields the CPU to the read API as the chunk runs it starts do.
        with (work / "backfill.log").open("ab") as out:
            backfill = spawn_session(
                cmd, env=dict(os.environ), stdout=out, niceness=get_settings().fetch_niceness
            )
        started, slices = time.perf_counter(), []
        try:
            while backfill.poll() is None:
                slices.append(slice_())
        finally:
            code = stop_session(backfill)
        if code != 0:
            raise SystemExit(f"the backfill failed ({code}); see {work / 'backfill.log'}")
        report(
            f"during a backfill ({len(keys)} trade dates x {len(tables)} tables, "
            f"{time.perf_counter() - started:.0f} s, "
            f"{read_pointer(warehouse).generation - generation} snapshots published)",
            merge(slices),
        )
    finally:
        stop_session(sim)


def stress(warehouse: Path, days: pd.DatetimeIndex, slice_: Callable) -> None:
    ctx = mp.get_context("spawn")
    stop_event, out = ctx.Event(), ctx.Queue()
    new_days = list(pd.bdate_range(days[-1] + pd.Timedelta(days=1), periods=1000))
    writer = ctx.Process(target=writer_loop, args=(str(warehouse), new_days, stop_event, out))
    writer.start()
    try:
        result = merge([slice_()])
    finally:
        stop_event.set()
        writes, seconds = out.get(timeout=600)
        writer.join()
    report("stress: a write+publish every second", result, target=False)
    mean = statistics.mean(seconds) if seconds else float("nan")
    print(f"  writer: {writes} writes+publishes of {STOCKS} rows, mean {mean:.2f} s each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-rows", type=int, default=10_000_000, help="rows already held")
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of the idle phase")
    parser.add_argument("--backfill-days", type=int, default=40, help="trade dates backfilled")
    parser.add_argument(
        "--fundamentals-periods",
        type=int,
        default=40,
        help="quarter ends of statements per stock (0: no fundamentals phase)",
    )
    parser.add_argument(
        "--idle-only", action="store_true", help="only the idle phases (no backfill, no stress)"
    )
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(args.dir, args)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
            run(Path(tmp), args)


if __name__ == "__main__":
    main()
