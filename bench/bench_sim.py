"""Benchmark the simulated Tushare server: rows/s, request latency percentiles, peak RSS.

Runs ``python -m twilight_sim`` as a subprocess (so its memory is measured alone), then pulls
``daily`` by trade_date for every trading day of a 5,000-stock, 10-year market over HTTP, plus
a few other query shapes. Usage::

    python bench/bench_sim.py [--stocks 5000] [--start 20150101] [--end 20241231] [--workers 4]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _call(client: httpx.Client, url: str, api: str, params: dict[str, object]) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = client.post(url, json={"api_name": api, "token": "bench", "params": params, "fields": ""})
    elapsed = time.perf_counter() - t0
    body = r.json()
    if body["code"] != 0:
        raise RuntimeError(body["msg"])
    return elapsed, len(body["data"]["items"])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _report(name: str, timings: list[tuple[float, int]], wall: float) -> None:
    lat = [t for t, _ in timings]
    rows = sum(n for _, n in timings)
    print(f"{name}: {len(timings)} requests, {rows} rows in {wall:.2f}s wall -> "
          f"{rows / wall:,.0f} rows/s, {len(timings) / wall:,.1f} req/s; latency ms "
          f"p50={_pct(lat, .5):.1f} p90={_pct(lat, .9):.1f} p99={_pct(lat, .99):.1f} "
          f"max={max(lat) * 1000:.1f} mean={statistics.mean(lat) * 1000:.1f}")


def _run(name: str, url: str, api: str, param_list: list[dict[str, object]],
         workers: int) -> None:
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=workers)) as client:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            timings = list(pool.map(lambda p: _call(client, url, api, p), param_list))
        _report(name, timings, time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--start", default="20150101")
    ap.add_argument("--end", default="20241231")
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()

    cmd = [sys.executable, "-m", "twilight_sim", "--stocks", str(args.stocks), "--start",
           args.start, "--end", args.end, "--rate-limit", "0"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        print(f"market of {args.stocks} stocks {args.start}..{args.end} up at {url} "
              f"in {time.perf_counter() - t0:.2f}s")
        with httpx.Client(timeout=300) as client:
            t1 = time.perf_counter()
            elapsed, _ = _call(client, url, "trade_cal", {"start_date": args.start,
                                                          "end_date": args.end, "is_open": "1"})
            days = [r[1] for r in client.post(url, json={
                "api_name": "trade_cal", "token": "bench", "fields": "exchange,cal_date",
                "params": {"start_date": args.start, "end_date": args.end, "is_open": "1"}},
            ).json()["data"]["items"]]
            warm = time.perf_counter()
            _call(client, url, "daily", {"trade_date": days[-1]})
            print(f"first daily call (generates the whole price history once): "
                  f"{time.perf_counter() - warm:.2f}s; trade_cal {elapsed * 1000:.1f} ms; "
                  f"setup {time.perf_counter() - t1:.2f}s")
        _run("daily by trade_date (all days)", url, "daily",
             [{"trade_date": d} for d in days], args.workers)
        _run("daily by trade_date, 1 worker (250 days)", url, "daily",
             [{"trade_date": d} for d in days[:250]], 1)
        _run("same 100 requests again (answered from the response cache)", url, "daily",
             [{"trade_date": d} for d in days[150:250]], 1)
        with httpx.Client(timeout=60) as client:
            codes = [r[0] for r in client.post(url, json={
                "api_name": "stock_basic", "token": "bench", "fields": "ts_code",
                "params": {}}).json()["data"]["items"]]
        _run("daily by ts_code (full history, 200 stocks)", url, "daily",
             [{"ts_code": c} for c in codes[:200]], args.workers)
        _run("daily_basic by trade_date (250 days)", url, "daily_basic",
             [{"trade_date": d} for d in days[-250:]], args.workers)
        _run("adj_factor by trade_date (250 days)", url, "adj_factor",
             [{"trade_date": d} for d in days[-250:]], args.workers)
        periods = [f"{y}{md}" for y in range(int(args.start[:4]), int(args.end[:4]))
                   for md in ("0331", "0630", "0930", "1231")]
        _run("income_vip by period (first page)", url, "income_vip",
             [{"period": p} for p in periods], args.workers)
        print(f"simulator peak RSS: {_peak_rss_mb(proc.pid):.0f} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
