"""The text raw layer's cost per answer: one raw write and one load_raw of a by-date daily answer.

The answers are the simulator's own (5,000 stocks, one trading day each, labelled as a raw asset
labels them) and are written one partition per write into a fresh warehouse without publishing,
so the figures are the raw layer's alone: open, append with its ledger rows, commit and close;
then the read a normalized asset makes. Wall and CPU (all threads of this process) per call.

    .venv/bin/python bench/bench_raw.py --days 30
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from twilight_resources.warehouse.writer import WarehouseWriter
from twilight_sim.market import Market


def answers(stocks: int, days: int) -> list[tuple[str, pd.DataFrame]]:
    market = Market(n_stocks=stocks, start_date="20230101", end_date="20231231")
    calendar = market.trade_cal(exchange="SSE", start_date="20230101", end_date="20231231")
    out = []
    for day in list(calendar[calendar["is_open"] == 1]["cal_date"])[:days]:
        frame = market.daily(trade_date=day)
        frame["partition_key"] = day
        frame["request_params"] = json.dumps({"trade_date": day})
        frame["fetched_at"] = pd.Timestamp("2024-01-02 18:00")
        out.append((day, frame))
    return out


def timed(call: Callable[..., object], *args: object) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    opts = parser.parse_args()
    batch = answers(opts.stocks, opts.days)
    with tempfile.TemporaryDirectory() as tmp:
        writer = WarehouseWriter(Path(tmp) / "warehouse.duckdb", publish=False)
        writer.write("raw_daily", batch[0][1].iloc[:0], [batch[0][0]])  # schema, first open
        writes, loads = [], []
        for day, frame in batch:
            writes.append(timed(writer.write, "raw_daily", frame, [day]))
            loads.append(timed(writer.load_raw, "raw_daily", [day]))
        sizes = {p.name: p.stat().st_size >> 20 for p in Path(tmp).glob("*.duckdb")}
    print(f"{len(batch)} answers of {len(batch[0][1]):,} rows; files (MiB): {sizes}")
    for name, runs in (("raw write", writes), ("load_raw", loads)):
        wall, cpu = sorted(r[0] * 1000 for r in runs), sorted(r[1] * 1000 for r in runs)
        print(
            f"{name:<10} wall median {wall[len(wall) // 2]:6.1f} ms (min {wall[0]:5.1f}), "
            f"cpu median {cpu[len(cpu) // 2]:6.1f} ms (min {cpu[0]:5.1f})"
        )


if __name__ == "__main__":
    main()
