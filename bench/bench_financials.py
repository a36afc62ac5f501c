"""Benchmark a full T3 history fill, per period (``*_vip``) and per stock, against the simulator.

Each mode gets a fresh home: the calendar, then the disclosure calendar of every period (stock
mode asks only stocks that have reported), then the six statement tables over the whole period
range as one run. Reports calls and wall time against the floor (calls x 60 / budget), and the
calls the planners would need for the full market (``--full-stocks`` over ``--full-years``).
Usage::

    python bench/bench_financials.py [--modes period,stock] [--stocks 300]
        [--stock-mode-stocks 40] [--start 20220101] [--end 20241231] [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import httpx
from bench_backfill import dagster, start_sim

from twilight_app.instance import DAGSTER_YAML
from twilight_sim.fields import ROW_CAPS

T3 = ("income", "balancesheet", "cashflow", "fina_indicator", "forecast", "express")
LAYERS = ("raw", "normalized")
# Share of stocks with a forecast / express report in a period, and of restated reports.
NOTICE_SHARE = {"forecast": 0.3, "express": 0.1}
RESTATED = 0.02


def planned_calls(mode: str, stocks: int, periods: int) -> int:
    """Calls the planners make for a full fill (pages from the row caps)."""
    disclosure = periods * math.ceil(stocks / ROW_CAPS["disclosure_date"])
    if mode == "stock":
        return disclosure + periods * stocks * len(T3)
    rows = {api: stocks * NOTICE_SHARE.get(api, 1 + RESTATED) for api in T3}
    pages = sum(max(1, math.ceil(n / ROW_CAPS[f"{api}_vip"])) for api, n in rows.items())
    return disclosure + periods * pages


def report_periods() -> list[str]:
    from dagster import DagsterInstance

    return sorted(DagsterInstance.get().get_dynamic_partitions("report_periods"))


def run_mode(mode: str, stocks: int, args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix=f"twilight-bench-{mode}-"))
    url = f"http://127.0.0.1:{args.port}"
    os.environ.update(
        TWILIGHT_HOME=str(home),
        TWILIGHT_TUSHARE_API_URL=url,
        TWILIGHT_CALLS_PER_MINUTE=str(args.calls_per_minute),
        TWILIGHT_HISTORY_START=args.start,
        TWILIGHT_FINANCIALS_MODE=mode,
        DAGSTER_HOME=str(home / "dagster"),
    )
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_bytes(DAGSTER_YAML.read_bytes())
    sim = start_sim(argparse.Namespace(**{**vars(args), "stocks": stocks}), args.port)
    try:
        dagster(["raw/trade_cal", "normalized/trade_cal"])
        keys = report_periods()
        span = ("--partition-range", f"{keys[0]}...{keys[-1]}")
        httpx.post(f"{url}/_sim/reset")
        started = time.monotonic()
        dagster(["raw/disclosure_date", "normalized/disclosure_date"], *span)
        dagster([f"{layer}/{t}" for t in T3 for layer in LAYERS], *span)
        wall = time.monotonic() - started
        stats = httpx.get(f"{url}/_sim/stats").json()
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait()
        shutil.rmtree(home, ignore_errors=True)
    calls = stats["total_calls"]
    floor = calls * 60 / args.calls_per_minute
    full = planned_calls(mode, args.full_stocks, args.full_years * 4)
    print(f"[{mode}] {stocks} stocks, {len(keys)} periods {keys[0]}..{keys[-1]}")
    print(f"[{mode}] upstream calls: {calls} ({stats['calls']}), rows: {stats['total_rows']}")
    print(f"[{mode}] wall time: {wall:.1f} s; floor: {floor:.1f} s; ratio {wall / floor:.3f}")
    print(
        f"[{mode}] planned for {args.full_stocks} stocks x {args.full_years} years: "
        f"{full} calls, floor {full / args.calls_per_minute:.1f} min"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="period,stock")
    parser.add_argument("--stocks", type=int, default=300)
    parser.add_argument("--stock-mode-stocks", type=int, default=40)
    parser.add_argument("--start", default="20220101")
    parser.add_argument("--end", default="20241231")
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--calls-per-minute", type=int, default=500)
    parser.add_argument("--full-stocks", type=int, default=5000)
    parser.add_argument("--full-years", type=int, default=8)
    parser.add_argument("--port", type=int, default=18766)
    args = parser.parse_args()
    for mode in args.modes.split(","):
        run_mode(mode, args.stocks if mode == "period" else args.stock_mode_stocks, args)


if __name__ == "__main__":
    main()
