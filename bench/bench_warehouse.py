"""Warehouse benchmark: upsert throughput, reader latency, publish cost, readers during writes.

    python bench/bench_warehouse.py [--rows 1000000] [--base-rows 10000000] [--dir DIR]

Builds a normalized_daily table of ``--base-rows`` synthetic rows (4000 stocks, one row per
stock and trading day, written date by date as daily partitions would), then measures:

* upsert of ``--rows`` rows (half on existing days, a quarter of those with changed values;
  half on new days) through WarehouseWriter, in rows/s;
* the snapshot publish (seconds, bytes; its parts are written in key order);
* WarehouseReader latency for one stock over one year (p50/p99);
* reader errors while another process writes and publishes continuously (must be 0).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np
import pandas as pd

from twilight_resources.warehouse import (
    WarehouseReader,
    WarehouseWriter,
    apply_ddl,
    normalize_frame,
)
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.snapshots import publish_snapshot

STOCKS = 4000
YEAR_SQL = "SELECT * FROM normalized_daily WHERE ts_code = ? AND trade_date BETWEEN ? AND ?"


def trading_days(start: str, count: int) -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=count)


def build_base(path: Path, rows: int) -> pd.DatetimeIndex:
    """Insert ``rows`` rows date-major (the order daily partitions arrive in), unsorted."""
    days = trading_days("2005-01-03", rows // STOCKS)
    conn = connect(path, config={"memory_limit": "2GB"})
    apply_ddl(conn)
    conn.execute("CREATE TEMP TABLE days AS SELECT * FROM (SELECT unnest(?) AS d)", [list(days)])
    conn.execute(
        "INSERT INTO normalized_daily SELECT printf('%06d.SZ', s), CAST(d AS DATE), "
        "round(10 + random() * 90, 2), round(10 + random() * 90, 2), "
        "round(10 + random() * 90, 2), round(10 + random() * 90, 2), "
        "round(10 + random() * 90, 2), round(random() * 2 - 1, 2), round(random() * 20 - 10, 4), "
        "round(random() * 1e6, 2), round(random() * 1e7, 3), 'tushare', now(), NULL "
        "FROM days, range(?) AS s(s) ORDER BY d, s",
        [STOCKS],
    )
    conn.execute("CHECKPOINT")
    conn.close()
    return days


def rows_for(dates: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    """Typed normalized_daily rows for every stock on ``dates``, with partition keys."""
    frame = pd.DataFrame(
        {
            "ts_code": np.tile([f"{s:06d}.SZ" for s in range(STOCKS)], len(dates)),
            "trade_date": np.repeat(dates.values, STOCKS),
        }
    )
    n = len(frame)
    for column in ("open", "high", "low", "close", "pre_close"):
        frame[column] = (10 + rng.random(n) * 90).round(2)
    frame["change"] = (rng.random(n) * 2 - 1).round(2)
    frame["pct_chg"] = (rng.random(n) * 20 - 10).round(4)
    frame["vol"] = (rng.random(n) * 1e6).round(2)
    frame["amount"] = (rng.random(n) * 1e7).round(3)
    frame["source"] = "tushare"
    frame["partition_key"] = frame["trade_date"].dt.strftime("%Y%m%d")
    return frame


def incoming_frame(rows: int, days: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` rows: half re-deliver the last days held, half are new days."""
    n_days = max(rows // STOCKS, 2)
    old = days[-(n_days // 2) :]
    new = trading_days(days[-1] + pd.offsets.BDay(1), n_days - len(old))
    return rows_for(old.append(new), rng)


def keep_old_values(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Copy current values into 3/4 of the re-delivered rows so they count as unchanged."""
    conn = connect(path, read_only=True)
    current = conn.execute(
        "SELECT * EXCLUDE (source, ingested_at, raw_id) FROM normalized_daily "
        "WHERE trade_date >= ?",
        [frame["trade_date"].min()],
    ).df()
    conn.close()
    merged = frame.merge(current, on=["ts_code", "trade_date"], how="left", suffixes=("", "_old"))
    same = merged["close_old"].notna() & (np.arange(len(merged)) % 4 != 0)
    for column in (
        "open",
        "high",
        "low",
        "close",
        "pre_close",
        "change",
        "pct_chg",
        "vol",
        "amount",
    ):
        merged.loc[same, column] = merged.loc[same, f"{column}_old"]
    return merged[frame.columns]


def latency(
    reader: WarehouseReader, days: pd.DatetimeIndex, n: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    start = days[len(days) // 2]
    timings = []
    for _ in range(n):
        code = f"{rng.integers(STOCKS):06d}.SZ"
        begin = time.perf_counter()
        reader.query(YEAR_SQL, [code, start, start + pd.Timedelta(days=365)])
        timings.append(time.perf_counter() - begin)
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(len(timings) * 0.99) - 1] * 1000


def blocks(path: Path) -> str:
    conn = connect(path, read_only=True)
    size = conn.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchone()
    conn.close()
    return f"file {path.stat().st_size / 1e6:.0f} MB, {size[1]} of {size[0]} blocks free"


def timed_publish(path: Path, label: str) -> None:
    begin = time.perf_counter()
    info = publish_snapshot(path)
    print(
        f"publish ({label}): {time.perf_counter() - begin:.2f} s for "
        f"{info.size_bytes / 1e6:.0f} MB; {blocks(path)}"
    )


def reader_loop(path: str, start: str, stop: Event, out: mp.Queue) -> None:
    """Another process: query one stock-year in a loop until told to stop."""
    reader = WarehouseReader(path, pool_size=2)
    day = pd.Timestamp(start)
    queries, errors, timings, generations = 0, 0, [], set()
    while not stop.is_set():
        begin = time.perf_counter()
        try:
            reader.query(
                YEAR_SQL, [f"{queries % STOCKS:06d}.SZ", day, day + pd.Timedelta(days=365)]
            )
            generations.add(reader.snapshot_info().generation)
        except Exception:  # every failure counts
            errors += 1
        timings.append(time.perf_counter() - begin)
        queries += 1
    reader.close()
    timings.sort()
    out.put(
        (
            queries,
            errors,
            timings[len(timings) // 2],
            timings[int(len(timings) * 0.99)],
            len(generations),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per upsert")
    parser.add_argument("--base-rows", type=int, default=10_000_000, help="rows already held")
    parser.add_argument(
        "--dir", type=Path, default=None, help="work dir, kept (default: a temp dir, removed)"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--writes", type=int, default=5, help="writes during the reader test")
    args = parser.parse_args()

    if args.dir is None:
        with tempfile.TemporaryDirectory(prefix="twilight-bench-") as tmp:
            run(Path(tmp), args)
    else:
        run(args.dir, args)


def run(work: Path, args: argparse.Namespace) -> None:
    """All measurements on a warehouse in ``work`` (several GB at the default sizes)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "warehouse.duckdb"
    rng = np.random.default_rng(1)
    print(f"work dir: {work}")

    begin = time.perf_counter()
    days = build_base(path, args.base_rows)
    print(
        f"base table: {len(days) * STOCKS:,} rows, {len(days)} days, built in "
        f"{time.perf_counter() - begin:.1f} s, file {path.stat().st_size / 1e6:.0f} MB"
    )

    writer = WarehouseWriter(path, memory_limit="1GB", threads=2, publish=False)
    timed_publish(path, "date-ordered table as built")
    with WarehouseReader(path) as reader:
        p50, p99 = latency(reader, days, args.queries, seed=2)
    print(f"reader one stock x one year, parts in key order: p50 {p50:.2f} ms, p99 {p99:.2f} ms")

    frame = keep_old_values(path, incoming_frame(args.rows, days, rng))
    keys = sorted(frame["partition_key"].unique())
    text = frame.drop(columns="source").astype(str)
    text["trade_date"] = frame["partition_key"]
    begin = time.perf_counter()
    batch = normalize_frame("normalized_daily", text)
    took = time.perf_counter() - begin
    print(
        f"normalize_frame: {len(text):,} raw text rows in {took:.2f} s = "
        f"{len(text) / took:,.0f} rows/s ({len(batch.rejects)} rejected)"
    )
    result = writer.write("normalized_daily", frame, keys)
    print(
        f"upsert: {result.rows:,} rows in {result.seconds:.2f} s = "
        f"{result.rows / result.seconds:,.0f} rows/s (inserted {result.inserted:,}, updated "
        f"{result.updated:,}, unchanged {result.unchanged:,}; {len(keys)} partitions; "
        f"table {result.table_rows:,} rows)"
    )
    days = days.append(pd.DatetimeIndex(sorted(set(frame["trade_date"]) - set(days))))
    timed_publish(path, "upserted tail")
    with WarehouseReader(path) as reader:
        p50, p99 = latency(reader, days, args.queries, seed=3)
    print(f"reader one stock x one year, after the upsert: p50 {p50:.2f} ms, p99 {p99:.2f} ms")

    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    reader_proc = ctx.Process(
        target=reader_loop, args=(str(path), str(days[len(days) // 2].date()), stop, out)
    )
    reader_proc.start()
    time.sleep(2)
    publishing = WarehouseWriter(path, memory_limit="1GB", threads=2, publish=True)
    durations = []
    for i in range(args.writes):
        new_days = trading_days(days[-1] + pd.offsets.BDay(1), 5)
        days = days.append(new_days)
        batch = rows_for(new_days, rng)
        keys = sorted(set(batch["partition_key"]))
        durations.append(publishing.write("normalized_daily", batch, keys).seconds)
        print(f"  write+publish {i + 1}: {len(batch):,} rows, {durations[-1]:.2f} s")
    time.sleep(1)
    stop.set()
    queries, errors, r50, r99, generations = out.get(timeout=120)
    reader_proc.join(timeout=60)
    print(
        f"reader during {args.writes} writes+publishes: {queries:,} queries, {errors} errors, "
        f"p50 {r50 * 1000:.2f} ms, p99 {r99 * 1000:.2f} ms, snapshots seen {generations}; "
        f"write+publish mean {statistics.mean(durations):.2f} s"
    )


if __name__ == "__main__":
    main()
