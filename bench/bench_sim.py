"""Benchmark the simulated Tushare server at full-market scale: CPU per call and peak memory.

Runs ``python -m twilight_sim`` as a subprocess (so its memory and CPU are measured alone) for a
5,000-stock, 10-year market, then over HTTP:

- ``daily``, ``adj_factor`` and ``daily_basic`` by trade_date for a few hundred dates spread
  over the range, in shuffled order (what a by-date backfill asks, ~5,000 rows a call);
- what a backfill's cross-source check asks of the Eastmoney side: one ``kline`` per sampled
  stock over a chunk's 100 trading days, several in flight, for a few chunks;
- a few other shapes (one stock's full history, statements for a whole period).

For each it prints the simulator's CPU milliseconds per call (from /proc, user + system), the
latency percentiles and the simulator's peak RSS so far. Usage::

    python bench/bench_sim.py [--stocks 5000] [--start 20150101] [--end 20241231]
        [--dates 300] [--workers 4] [--cache-mb 256] [--port 18400]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _post(client: httpx.Client, url: str, api: str, params: dict[str, object]) -> int:
    r = client.post(url, json={"api_name": api, "token": "bench", "params": params, "fields": ""})
    body = r.json()
    if body["code"] != 0:
        raise RuntimeError(body["msg"])
    return len(body["data"]["items"])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _phase(name: str, pid: int, calls: list[Callable[[], int]], workers: int) -> None:
    """Run the calls ``workers`` at a time; print CPU/call, latency and peak RSS."""

    def timed(call: Callable[[], int]) -> tuple[float, int]:
        t0 = time.perf_counter()
        rows = call()
        return time.perf_counter() - t0, rows

    cpu0, wall0 = _cpu_s(pid), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        timings = list(pool.map(timed, calls))
    wall, cpu = time.perf_counter() - wall0, _cpu_s(pid) - cpu0
    lat = [t for t, _ in timings]
    rows = sum(n for _, n in timings)
    print(
        f"{name}: {len(calls)} calls, {rows / len(calls):,.0f} rows/call; simulator CPU "
        f"{cpu * 1000 / len(calls):.1f} ms/call; latency ms p50={_pct(lat, 0.5):.1f} "
        f"p99={_pct(lat, 0.99):.1f} max={max(lat) * 1000:.1f} mean="
        f"{statistics.mean(lat) * 1000:.1f}; wall {wall:.1f}s; "
        f"peak RSS {_status_mb(pid, 'VmHWM'):.0f} MB",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--start", default="20150101")
    ap.add_argument("--end", default="20241231")
    ap.add_argument("--dates", type=int, default=300, help="trade dates sampled per table")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--cache-mb", type=int, default=256)
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = ap.parse_args()

    cmd = [
        sys.executable,
        "-m",
        "twilight_sim",
        "--stocks",
        str(args.stocks),
        "--start",
        args.start,
        "--end",
        args.end,
        "--rate-limit",
        "0",
        "--cache-mb",
        str(args.cache_mb),
        "--port",
        str(args.port),
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        if not url:
            raise SystemExit("the simulator did not start")
        pid = proc.pid
        print(
            f"market of {args.stocks} stocks {args.start}..{args.end} (--cache-mb "
            f"{args.cache_mb}) up at {url} in {time.perf_counter() - t0:.2f}s, RSS "
            f"{_status_mb(pid, 'VmRSS'):.0f} MB",
            flush=True,
        )
        client = httpx.Client(timeout=300, limits=httpx.Limits(max_connections=16))
        cal = client.post(
            url,
            json={
                "api_name": "trade_cal",
                "token": "bench",
                "fields": "cal_date",
                "params": {"start_date": args.start, "end_date": args.end, "is_open": "1"},
            },
        ).json()
        days = sorted(r[0] for r in cal["data"]["items"])
        step = max(1, len(days) // args.dates)
        sample = days[::step][: args.dates]
        random.Random(7).shuffle(sample)  # a backfill's chunks run in no particular order
        for api in ("daily", "adj_factor", "daily_basic"):
            _phase(
                f"{api} by trade_date ({len(sample)} dates over {len(days)})",
                pid,
                [lambda a=api, d=d: _post(client, url, a, {"trade_date": d}) for d in sample],
                args.workers,
            )

        codes = [
            r[0]
            for r in client.post(
                url,
                json={
                    "api_name": "stock_basic",
                    "token": "bench",
                    "fields": "ts_code",
                    "params": {},
                },
            ).json()["data"]["items"]
        ]
        picked = random.Random(11).sample(codes, min(100, len(codes)))

        def kline(code: str, beg: str, end: str) -> int:
            secid = ("1." if code.endswith(".SH") else "0.") + code[:6]
            r = client.get(
                f"{url}/api/qt/stock/kline/get",
                params={"secid": secid, "klt": "101", "fqt": "0", "beg": beg, "end": end},
            )
            data = r.json()["data"]
            return len(data["klines"]) if data else 0

        for k in range(3):  # a cross-source check per backfill chunk: 100 stocks, 8 in flight
            lo = len(days) * (k + 1) // 4
            beg, end = days[lo], days[min(lo + 99, len(days) - 1)]
            _phase(
                f"cross-source kline {beg}..{end} ({len(picked)} stocks)",
                pid,
                [lambda c=c, b=beg, e=end: kline(c, b, e) for c in picked],
                8,
            )
        _phase(
            "daily by ts_code (full history, 50 stocks)",
            pid,
            [lambda c=c: _post(client, url, "daily", {"ts_code": c}) for c in codes[:50]],
            args.workers,
        )
        periods = [
            f"{y}{md}"
            for y in range(int(args.start[:4]), int(args.end[:4]))
            for md in ("0331", "0630", "0930", "1231")
        ]
        _phase(
            "income_vip by period (first page)",
            pid,
            [lambda p=p: _post(client, url, "income_vip", {"period": p}) for p in periods],
            args.workers,
        )
        print(
            f"simulator peak RSS: {_status_mb(pid, 'VmHWM'):.0f} MB; CPU in all {_cpu_s(pid):.1f}s"
        )
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
