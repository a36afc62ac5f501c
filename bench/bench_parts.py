"""Per-part snapshots: what a one-day write's publish writes on a short and a long history, and
what a typical read costs on parts against one whole file.

    python bench/bench_parts.py [--stocks 5000] [--years 1 5] [--queries 200] [--dir DIR]

For each history it builds normalized_daily, normalized_adj_factor and normalized_daily_basic
directly with SQL (every stock on every weekday, in key order), publishes every part once,
then writes one new day of the three tables through WarehouseWriter (one publish each) and
reports the bytes the publishes wrote (parts not hard-linked from the generation before) and
their time, beside the size of the whole file every publish used to copy. Read latency (p50,
p99) of one stock over one year and of one day across all stocks, on the parts through
WarehouseReader and on one read-only file holding the same rows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from twilight_resources.warehouse import WarehouseReader, WarehouseWriter, apply_ddl
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.snapshots import load_manifest, publish_snapshot, read_pointer

TABLES = {
    "daily": "round(10 + random() * 90, 2), round(10 + random() * 90, 2), "
    "round(10 + random() * 90, 2), round(10 + random() * 90, 2), round(10 + random() * 90, 2), "
    "round(random() * 2 - 1, 2), round(random() * 20 - 10, 4), round(random() * 1e6, 2), "
    "round(random() * 1e7, 3)",
    "adj_factor": "round(1 + random() * 10, 3)",
}
STOCK_SQL = "SELECT * FROM normalized_daily WHERE ts_code = ? AND trade_date BETWEEN ? AND ?"
DAY_SQL = "SELECT * FROM normalized_daily WHERE trade_date = ?"


def build(path: Path, stocks: int, years: int) -> pd.DatetimeIndex:
    days = pd.bdate_range("2020-01-01", f"{2020 + years - 1}-12-30")
    conn = connect(path, config={"memory_limit": "1GB", "threads": "2"})
    apply_ddl(conn)
    conn.execute("CREATE TEMP TABLE days AS SELECT CAST(unnest(?) AS DATE) AS d", [list(days)])
    for api, values in TABLES.items():
        conn.execute(
            f"INSERT INTO normalized_{api} SELECT printf('%06d.SZ', s), d, {values}, "
            "'tushare', now(), NULL FROM range(?) AS s(s), days ORDER BY s, d",
            [stocks],
        )
    conn.execute(
        "INSERT INTO normalized_daily_basic (ts_code, trade_date, close, turnover_rate, pe, pb, "
        "total_mv, source) SELECT printf('%06d.SZ', s), d, round(10 + random() * 90, 2), "
        "random(), random() * 50, random() * 5, random() * 1e6, 'tushare' "
        "FROM range(?) AS s(s), days ORDER BY s, d",
        [stocks],
    )
    conn.execute("CHECKPOINT")
    conn.close()
    return days


def day_frames(stocks: int, day: pd.Timestamp) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    base = pd.DataFrame({"ts_code": [f"{s:06d}.SZ" for s in range(stocks)], "trade_date": day})
    daily = base.assign(
        open=rng.uniform(10, 100, stocks).round(2), close=rng.uniform(10, 100, stocks).round(2),
        vol=rng.uniform(0, 1e6, stocks).round(2), source="tushare",
    )  # fmt: skip
    factors = base.assign(adj_factor=rng.uniform(1, 10, stocks).round(3), source="tushare")
    basic = base.assign(close=daily["close"], pe=rng.uniform(0, 50, stocks), source="tushare")
    return {"daily": daily, "adj_factor": factors, "daily_basic": basic}


def written(before: Path, after: Path) -> tuple[int, int]:
    """Bytes and files of ``after``'s parts that are not the same inode as in ``before``."""
    old = {p.file: (before / p.file).stat().st_ino for p in load_manifest(before).parts}
    size, files = 0, 0
    for part in load_manifest(after).parts:
        st = (after / part.file).stat()
        if old.get(part.file) != st.st_ino:
            size, files = size + st.st_size, files + 1
    return size, files


def percentiles(timings: Sequence[float]) -> str:
    ordered = sorted(timings)
    p99 = ordered[max(int(len(ordered) * 0.99) - 1, 0)]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


def latencies(
    run: Callable[[str, list[object]], object], days: pd.DatetimeIndex, stocks: int, n: int
) -> tuple[str, str]:
    """One stock over one year, and one day across all stocks, run by ``run(sql, params)``."""
    rng = np.random.default_rng(3)
    start = days[len(days) // 2]
    for _ in range(20):  # first loads
        run(STOCK_SQL, [f"{rng.integers(stocks):06d}.SZ", start, start + pd.Timedelta(days=365)])
        run(DAY_SQL, [days[rng.integers(len(days))]])
    by_stock, by_day = [], []
    for _ in range(n):
        code = f"{rng.integers(stocks):06d}.SZ"
        begin = time.perf_counter()
        run(STOCK_SQL, [code, start, start + pd.Timedelta(days=365)])
        by_stock.append(time.perf_counter() - begin)
        day = days[rng.integers(len(days))]
        begin = time.perf_counter()
        run(DAY_SQL, [day])
        by_day.append(time.perf_counter() - begin)
    return percentiles(by_stock), percentiles(by_day)


def measure(work: Path, stocks: int, years: int, queries: int) -> None:
    path = work / f"y{years}" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    begin = time.perf_counter()
    days = build(path, stocks, years)
    rows = len(days) * stocks
    print(f"\n{years} year(s): {rows:,} rows a table, built in {time.perf_counter() - begin:.0f} s")
    begin = time.perf_counter()
    first = publish_snapshot(path)
    print(
        f"  first publish (every part): {time.perf_counter() - begin:.1f} s, "
        f"{first.size_bytes / 1e6:.0f} MB in {len(load_manifest(first.path).parts)} parts"
    )

    writer = WarehouseWriter(path, memory_limit="1GB", threads=2)
    day = days[-1] + pd.offsets.BDay(1)
    total, files, seconds, previous = 0, 0, 0.0, first.path
    for api, frame in day_frames(stocks, day).items():
        result = writer.write(f"normalized_{api}", frame, [day.strftime("%Y%m%d")])
        current = read_pointer(path)
        assert current is not None and result.snapshot is not None
        size, count = written(previous, current.path)
        total, files, previous = total + size, files + count, current.path
        seconds += result.publish_seconds
    print(
        f"  one-day write of 3 tables ({stocks:,} rows each), 3 publishes: {total / 1e6:.1f} MB "
        f"written in {files} part files, {seconds:.2f} s publishing; the whole file each "
        f"publish used to copy: {path.stat().st_size / 1e6:.0f} MB (x3)"
    )

    with WarehouseReader(path, pool_size=1) as reader:
        begin = time.perf_counter()
        reader.query("SELECT 1")
        opened = time.perf_counter() - begin
        stock, one_day = latencies(reader.query, days, stocks, queries)
    print(f"  parts ({len(load_manifest(previous).parts)} files, opened in {opened * 1000:.0f} ms)")
    print(f"    one stock x one year: {stock}; one day x all stocks: {one_day}")

    single = connect(path, read_only=True, config={"memory_limit": "256MB", "threads": "1"})
    cursor = single.cursor()
    try:
        stock, one_day = latencies(
            lambda sql, params: cursor.execute(sql, params).df(), days, stocks, queries
        )
    finally:
        cursor.close()
        single.close()
    print("  one file (the writer's, in key order as built)")
    print(f"    one stock x one year: {stock}; one day x all stocks: {one_day}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--years", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None, help="work dir, kept")
    args = parser.parse_args()
    if args.dir is None:
        with tempfile.TemporaryDirectory(prefix="twilight-parts-") as tmp:
            for years in args.years:
                measure(Path(tmp), args.stocks, years, args.queries)
    else:
        for years in args.years:
            measure(args.dir, args.stocks, years, args.queries)


if __name__ == "__main__":
    main()
