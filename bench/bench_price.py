"""AKShare benchmark: /price while the market is open, and one cross-source check of a market.

    python bench/bench_price.py [--stocks 5000] [--requests 400] [--dir DIR]

Starts its own simulator in its own process (``--stocks`` stocks; AKShare's requests reach it
over loopback HTTP as they would reach Eastmoney), builds a warehouse of the previous session
through the real Dagster assets, and serves the real app on loopback (uvicorn in a thread, its
clock following the simulator's, set to 10:30 on a trading day). Then:

* ``/price`` warm: one stock again and again (the composer's 5 s live cache answers);
* ``/price`` cold: a different stock each request, so each one runs the real ``akshare``
  request and parsing against the simulator (one HTTP call per quote);
* the cross-source check of the previous session over every stock (one ``stock_zh_a_hist`` call
  per stock, ``TWILIGHT_AKSHARE_MAX_IN_FLIGHT`` in flight), as the asset check runs it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from dagster import DagsterInstance

from twilight_assets.quality import verify_daily
from twilight_assets.runner import materialize_tables
from twilight_resources.calendar import MARKET_TZ
from twilight_resources.processes import spawn_session, stop_session
from twilight_resources.settings import get_settings, reset_settings
from twilight_serve.app import create_app
from twilight_serve.auth import TokenStore
from twilight_sim.testing import call

DAY, PREVIOUS = "20240731", "20240730"
OPEN_AT = datetime(2024, 7, 31, 10, 30, tzinfo=MARKET_TZ)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms, max {ordered[-1]:.1f} ms"


def timed_gets(port: int, token: str, codes: list[str]) -> tuple[list[float], dict[str, int]]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    latencies, sources = [], {}
    for code in codes:
        started = time.perf_counter()
        client.request("GET", f"/price?ts_code={code}", headers=headers)
        response = client.getresponse()
        body = json.loads(response.read())
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise SystemExit(f"/price {code}: {response.status} {body}")
        key = f"{body['source']}{' (cached)' if body['cached'] else ''}"
        sources[key] = sources.get(key, 0) + 1
    client.close()
    return latencies, sources


def start_sim(stocks: int) -> tuple[subprocess.Popen[str], str]:
    """``twilight sim`` in its own session; its first output line is its URL."""
    proc = spawn_session(
        [sys.executable, "-m", "twilight_sim", "--stocks", str(stocks), "--start", "20240701",
         "--end", DAY, "--now", f"{PREVIOUS}T23:00", "--rate-limit", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def set_clock(url: str, now: str) -> None:
    with httpx.Client() as client:
        client.post(f"{url}/_sim/clock", json={"now": now}).raise_for_status()


def run(work: Path, args: argparse.Namespace) -> None:
    began = time.perf_counter()
    proc, url = start_sim(args.stocks)
    if not url.startswith("http"):
        stop_session(proc)
        raise SystemExit(f"the simulator did not start: {url!r}")
    try:
        for name in [n for n in os.environ if n.startswith("TWILIGHT_")]:
            del os.environ[name]
        os.environ.update(
            TWILIGHT_HOME=str(work / "home"),
            TWILIGHT_TUSHARE_API_URL=url,
            TWILIGHT_CALLS_PER_MINUTE="100000",
            TWILIGHT_HISTORY_START="20240701",
        )
        reset_settings()
        settings = get_settings()
        with DagsterInstance.ephemeral() as instance:
            materialize_tables(["trade_cal", "stock_basic"], instance)
            materialize_tables(["daily"], instance, start=PREVIOUS, end=PREVIOUS)
        print(
            f"warehouse: {args.stocks} stocks, session {PREVIOUS}, built in "
            f"{time.perf_counter() - began:.0f} s"
        )

        # The check: every stock's bar of the previous session, from AKShare.
        _, figures = verify_daily(settings, (PREVIOUS, PREVIOUS))
        seconds = float(figures["seconds"])  # type: ignore[arg-type]
        print(
            f"cross-source check, {figures['compared_rows']} bars of {PREVIOUS}: "
            f"{figures['akshare_calls']} akshare calls in {seconds:.1f} s "
            f"({figures['akshare_calls'] / seconds:.0f} calls/s, "  # type: ignore[operator]
            f"{settings.akshare_max_in_flight} in flight), {figures['critical']} critical, "
            f"{figures['warning']} warnings"
        )

        # The market opens: the simulator and the app share a clock running from 10:30.
        set_clock(url, OPEN_AT.strftime("%Y%m%dT%H:%M"))
        started = time.monotonic()

        def clock() -> datetime:
            return OPEN_AT + timedelta(seconds=time.monotonic() - started)

        store = TokenStore(settings.bearer_db_file)
        token = store.create("bench")
        store.close()
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, clock=clock), port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            set_clock(url, f"{DAY}T23:00")  # which stocks trade today (not suspended, listed)
            answer = call(url, "daily", {"trade_date": DAY}, fields="ts_code")["data"]
            set_clock(url, OPEN_AT.strftime("%Y%m%dT%H:%M"))
            codes = sorted(row[0] for row in answer["items"])
            timed_gets(port, token, codes[:20])  # warm-up: import akshare, open connections
            warm, sources = timed_gets(port, token, [codes[0]] * args.requests)
            print(f"/price warm cache, {args.requests} requests: {percentiles(warm)} {sources}")
            cold_codes = codes[20 : 20 + args.requests]
            cold, sources = timed_gets(port, token, cold_codes)
            print(f"/price cold quote, {len(cold_codes)} stocks: {percentiles(cold)} {sources}")
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        stop_session(proc)
    print(f"total {time.perf_counter() - began:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stocks", type=int, default=5000, help="simulated market size")
    parser.add_argument("--requests", type=int, default=400, help="requests per /price phase")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(args.dir, args)
    else:
        with tempfile.TemporaryDirectory(prefix="twilight-bench-price-") as tmp:
            run(Path(tmp), args)


if __name__ == "__main__":
    sys.exit(main())
