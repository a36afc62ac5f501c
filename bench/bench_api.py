"""Read API benchmark: /warehouse/daily, one stock and one year, at a fixed rate, idle and writing.

    python bench/bench_api.py [--base-rows 10000000] [--rate 200] [--seconds 10] [--dir DIR]

Builds a normalized_daily table of ``--base-rows`` synthetic rows (4000 stocks), publishes it,
starts ``twilight serve`` on loopback in its own session, and sends requests open-loop at
``--rate`` per second (latency counts from each request's scheduled time, so a stalled server
shows up as latency rather than as a lower rate). The second phase repeats it while another
process upserts a trading day per write and publishes a new snapshot after each one, at the
batch niceness Dagster's steps run at.
Target: p99 <= 10 ms, 0 errors. Every process it starts is stopped and reaped.
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
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_warehouse import STOCKS, build_base, rows_for  # noqa: E402

from twilight_resources.auth import TokenStore  # noqa: E402
from twilight_resources.priority import lower_priority  # noqa: E402
from twilight_resources.processes import spawn_session, stop_session  # noqa: E402
from twilight_resources.settings import get_settings  # noqa: E402
from twilight_resources.warehouse import WarehouseWriter  # noqa: E402
from twilight_resources.warehouse.snapshots import publish_snapshot  # noqa: E402

TARGET_P99_MS = 10.0
WORKERS = 8  # concurrent connections of the load generator


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = spawn_session(
            [sys.executable, "-m", "twilight_resources.cli", "serve", "--port", str(port)],
            env=env, stdout=out,
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


def load(
    host: str, port: int, token: str, days: pd.DatetimeIndex, rate: float, seconds: float
) -> dict:
    """Open-loop requests at ``rate``/s for ``seconds``; latency from the scheduled send time."""
    total = int(rate * seconds)
    rng = np.random.default_rng(1)
    stocks = rng.integers(0, STOCKS, total)
    last = len(days) - 1
    ends = rng.integers(250, last + 1, total)
    latencies: list[float] = []
    errors: list[str] = []
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
                query = urlencode(
                    {
                        "ts_code": f"{stocks[i]:06d}.SZ",
                        "start_date": days[ends[i] - 250].strftime("%Y%m%d"),
                        "end_date": days[ends[i]].strftime("%Y%m%d"),
                    }
                )
                try:
                    client.request("GET", f"/warehouse/daily?{query}", headers=auth)
                    response = client.getresponse()
                    body = response.read()
                    ok = response.status == 200 and json.loads(body)["count"] > 0
                    failure = None if ok else f"{response.status} {body[:100]!r}"
                except (OSError, http.client.HTTPException) as exc:
                    failure = repr(exc)
                    client.close()  # reconnects on the next request
                elapsed = (time.perf_counter() - due) * 1000
                with lock:
                    latencies.append(elapsed)
                    if failure:
                        errors.append(failure)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "max_ms": ordered[-1],
        "throughput": len(ordered) / wall,
    }


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


def report(label: str, result: dict) -> None:
    verdict = "ok" if result["p99_ms"] <= TARGET_P99_MS and result["errors"] == 0 else "MISSED"
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
    # What the writer's re-sort leaves behind: rows in key order, so one stock is a few blocks.
    WarehouseWriter(warehouse, publish=False).resort("normalized_daily")
    info = publish_snapshot(warehouse)
    print(
        f"warehouse: {args.base_rows:,} rows of normalized_daily ({STOCKS} stocks x "
        f"{len(days)} days), snapshot {info.size_bytes / 1e6:.0f} MB, built in "
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
        load("127.0.0.1", port, token, days, args.rate, 2)  # warm-up: first snapshot pool
        report("idle", load("127.0.0.1", port, token, days, args.rate, args.seconds))
        ctx = mp.get_context("spawn")
        stop_event, out = ctx.Event(), ctx.Queue()
        new_days = list(pd.bdate_range(days[-1] + pd.Timedelta(days=1), periods=1000))
        writer = ctx.Process(target=writer_loop, args=(str(warehouse), new_days, stop_event, out))
        writer.start()
        try:
            report("during writes", load("127.0.0.1", port, token, days, args.rate, args.seconds))
        finally:
            stop_event.set()
            writes, seconds = out.get(timeout=600)
            writer.join()
        mean = statistics.mean(seconds) if seconds else float("nan")
        print(f"  writer: {writes} writes+publishes of {STOCKS} rows, mean {mean:.2f} s each")
    finally:
        stop_session(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-rows", type=int, default=10_000_000, help="rows already held")
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per phase")
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
