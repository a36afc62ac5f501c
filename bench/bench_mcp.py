"""MCP proxy benchmark: a warehouse hit against a live miss, through the SDK's own client.

    .venv/bin/python bench/bench_mcp.py [--hits 300] [--misses 40] [--latency-ms 150] [--dir DIR]

Starts a simulator, materializes the reference tables and ``daily`` for a few weeks into a
fresh TWILIGHT_HOME, starts ``twilight mcp --transport http`` on loopback in its own session and
calls the ``daily`` tool over streamable HTTP: hits are one stock over the fetched weeks; misses
are whole-market days the warehouse lacks (each a distinct request, so the live cache never
answers). Misses are timed twice: against the bare simulator (the protocol's own cost on
loopback) and with ``--latency-ms`` injected per upstream call (a real Tushare round trip is
100-300 ms). The budget is set high so no call waits for a slot. Target: hits >= 50x faster than
a simulated live call. Every process it starts is stopped and reaped.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from twilight_resources.calendar import from_key, to_key
from twilight_resources.processes import spawn_session, stop_session
from twilight_resources.settings import reset_settings
from twilight_serve.auth import TokenStore
from twilight_sim.server import SimConfig, SimServer, start_simulator

ROOT = Path(__file__).resolve().parents[1]
SIM = {"seed": 3, "n_stocks": 200, "start_date": "20240101", "end_date": "20240628"}
FETCHED = ("20240401", "20240426")  # materialized trading days of daily
LIVE_DAYS = ("20240506", "20240628")  # never materialized: every call there is a miss
TARGET_RATIO = 50.0


def fill(home: Path, sim: SimServer) -> None:
    """Reference tables and a few weeks of daily, through the real Dagster assets."""
    from dagster import instance_for_test

    from twilight_assets.runner import materialize_tables

    os.environ.update(server_env(home, sim))
    reset_settings()
    with instance_for_test() as instance:
        materialize_tables(["trade_cal", "stock_basic"], instance)
        materialize_tables(["daily"], instance, start=FETCHED[0], end=FETCHED[1])
    reset_settings()


def server_env(home: Path, sim: SimServer) -> dict[str, str]:
    return {
        "TWILIGHT_HOME": str(home),
        "TWILIGHT_TUSHARE_API_URL": sim.url,
        "TWILIGHT_CALLS_PER_MINUTE": "100000",
        "TWILIGHT_HISTORY_START": "20240301",
    }


def start_server(home: Path, sim: SimServer) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIGHT_")}
    process = spawn_session(
        [sys.executable, "-m", "twilight_serve.mcp", "--transport", "http", "--port", "0"],
        env={**env, **server_env(home, sim)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode(errors="replace")
        match = re.search(r"listening on (http://\S+/mcp)", line)
        if match:
            # Keep reading, so the server never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, match.group(1)
        if not line and process.poll() is not None:
            break
    stop_session(process)
    raise SystemExit("the MCP server did not start")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(calls: list[Callable[[], Awaitable[object]]]) -> list[float]:
    out = []
    for call in calls:
        started = time.perf_counter()
        await call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=300)
    parser.add_argument("--misses", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    opts = parser.parse_args()
    work = opts.dir or Path(tempfile.mkdtemp(prefix="bench_mcp_"))
    try:
        return bench(work / "home", opts)
    finally:
        if opts.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def bench(home: Path, opts: argparse.Namespace) -> int:
    for name in [n for n in os.environ if n.startswith("TWILIGHT_")]:
        del os.environ[name]
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as sim:
        started = time.monotonic()
        fill(home, sim)
        print(f"warehouse filled in {time.monotonic() - started:.0f} s ({home})")
        store = TokenStore(home / "state" / "tokens.sqlite")
        token = store.create("bench")
        store.close()
        process, url = start_server(home, sim)
        try:
            end_to_end = anyio.run(run, url, token, sim, opts)
        finally:
            stop_session(process)
        in_process = run_in_process(home, sim, opts)
    report("end to end: SDK client -> streamable HTTP -> server", end_to_end, opts)
    report("in process: the proxy's own work (no MCP transport)", in_process, opts)
    return 0


def report(title: str, figures: tuple[list[float], ...], opts: argparse.Namespace) -> None:
    hits, bare, slow = figures
    print(title)
    for label, samples in (
        ("hit (warehouse)", hits),
        ("miss, bare simulator", bare),
        (f"miss, +{opts.latency_ms:.0f} ms upstream", slow),
    ):
        print(
            f"  {label:<28} n={len(samples):<4} p50 {pct(samples, 0.5):8.2f} ms   "
            f"p99 {pct(samples, 0.99):8.2f} ms"
        )
    ratio_bare = statistics.median(bare) / statistics.median(hits)
    ratio_slow = statistics.median(slow) / statistics.median(hits)
    verdict = "met" if ratio_slow >= TARGET_RATIO else "MISSED"
    print(
        f"  hit vs live miss (p50): {ratio_bare:.1f}x faster on the bare simulator, "
        f"{ratio_slow:.1f}x against a {opts.latency_ms:.0f} ms upstream "
        f"(target >= {TARGET_RATIO:.0f}x: {verdict})"
    )


def run_in_process(
    home: Path, sim: SimServer, opts: argparse.Namespace
) -> tuple[list[float], list[float], list[float]]:
    """The same requests through the server's Answerer directly: what a hit costs the proxy."""
    from twilight_resources.settings import load_settings
    from twilight_resources.tushare import client_from_settings
    from twilight_resources.warehouse import WarehouseReader
    from twilight_serve.mcp.answers import Answerer
    from twilight_serve.mcp.catalog import TOOLS_BY_API
    from twilight_serve.mcp.request import table_request

    settings = load_settings(
        **{k.removeprefix("TWILIGHT_").lower(): v for k, v in server_env(home, sim).items()}
    )
    answerer = Answerer(
        settings, WarehouseReader.from_settings(settings), lambda: client_from_settings(settings)
    )
    daily = TOOLS_BY_API["daily"]
    stocks = answerer.reader.query("SELECT DISTINCT ts_code FROM normalized_daily ORDER BY 1")
    codes = stocks["ts_code"].tolist()
    calendar = answerer.coverage.calendar(answerer.reader.snapshot_info().generation)
    first, last = (from_key(k) for k in LIVE_DAYS)
    days = [to_key(d) for d in calendar.open_days(first, last)]
    live = iter([(d, c) for c in reversed(codes) for d in reversed(days)])

    def sample(n: int, make: Callable[[int], dict[str, str]], source: str) -> list[float]:
        out = []
        for i in range(n):
            request = table_request(daily, make(i))
            started = time.perf_counter()
            answer = answerer.table(request)
            out.append((time.perf_counter() - started) * 1000)
            assert answer.source == source, answer.coverage
        return out

    def hit(i: int) -> dict[str, str]:
        return {"ts_code": codes[i % len(codes)], "start_date": FETCHED[0], "end_date": FETCHED[1]}

    def miss(i: int) -> dict[str, str]:
        day, code = next(live)
        return {"ts_code": code, "trade_date": day}

    try:
        sample(20, hit, "warehouse")
        hits = sample(opts.hits, hit, "warehouse")
        bare = sample(opts.misses, miss, "simulator")
        sim.set_faults(latency_rate=1.0, latency_ms=opts.latency_ms)
        try:
            slow = sample(opts.misses, miss, "simulator")
        finally:
            sim.set_faults()
    finally:
        answerer.close()
    return hits, bare, slow


async def run(
    url: str, token: str, sim: SimServer, opts: argparse.Namespace
) -> tuple[list[float], list[float], list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                codes = await session.call_tool("stock_basic", {"fields": "ts_code", "limit": 200})
                stocks = [row[0] for row in codes.structured_content["items"]]  # type: ignore[index]
                calendar = await session.call_tool(
                    "trade_cal",
                    {
                        "start_date": LIVE_DAYS[0],
                        "end_date": LIVE_DAYS[1],
                        "is_open": "1",
                        "fields": "cal_date",
                    },
                )
                days = sorted(row[0] for row in calendar.structured_content["items"])  # type: ignore[index]
                # Distinct (day, stock) requests: the live cache must never answer a miss.
                live = [(d, s) for s in stocks for d in days]

                def hit(i: int) -> Callable[[], Awaitable[object]]:
                    args = {
                        "ts_code": stocks[i % len(stocks)],
                        "start_date": FETCHED[0],
                        "end_date": FETCHED[1],
                    }
                    return lambda: expect(session, "daily", args, "warehouse")

                def miss(i: int) -> Callable[[], Awaitable[object]]:
                    day, stock = live[i]
                    args = {"ts_code": stock, "trade_date": day}
                    return lambda: expect(session, "daily", args, "simulator")

                await timed([hit(i) for i in range(20)])  # warm-up
                sim.reset_stats()
                hits = await timed([hit(i) for i in range(opts.hits)])
                assert sim.stats() == {}, f"hits spent upstream calls: {sim.stats()}"
                bare = await timed([miss(i) for i in range(opts.misses)])
                sim.set_faults(latency_rate=1.0, latency_ms=opts.latency_ms)
                try:
                    slow = await timed([miss(opts.misses + i) for i in range(opts.misses)])
                finally:
                    sim.set_faults()
                assert sim.stats() == {"daily": 2 * opts.misses}, sim.stats()
    return hits, bare, slow


async def expect(session: ClientSession, tool: str, args: dict[str, str], source: str) -> None:
    result = await session.call_tool(tool, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["source"] == source, result.structured_content["coverage"]


if __name__ == "__main__":
    sys.exit(main())
