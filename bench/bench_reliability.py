"""The reliability harness at a larger scale than CI affords: more stocks, months, SIGKILLs.

Runs the backfill of tests/reliability (reference tables, daily, adj_factor, weekly) fault-free,
then SIGKILLed ``--kills`` times and rerun, then through ``--fault-rate`` upstream faults, and
compares every normalized table with the fault-free run. Usage::

    python bench/bench_reliability.py [--stocks 40] [--start 20240101] [--end 20240630]
        [--kills 6] [--fault-rate 0.1] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness lives in tests/

from dagster import instance_for_test  # noqa: E402

from tests.reliability.harness import (  # noqa: E402
    RESUMABLE,
    chaos,
    checksums,
    compare,
    platform,
    platform_env,
    report,
    run_backfill,
)
from twilight_sim.server import SimConfig, start_simulator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=40)
    parser.add_argument("--start", default="20240101", help="first simulated and loaded day")
    parser.add_argument("--end", default="20240630")
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = SimConfig(seed=args.seed, n_stocks=args.stocks, start_date=args.start,
                       end_date=args.end, rate_limit_per_minute=100_000)  # fmt: skip
    extra = {"TWILIGHT_HISTORY_START": args.start, "TWILIGHT_MAX_IN_FLIGHT": "2",
             "TWILIGHT_REQUEST_TIMEOUT": "0.5", "TWILIGHT_RETRY_ATTEMPTS": "6"}  # fmt: skip
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp,
        start_simulator(config) as sim,
    ):
        homes = {name: Path(tmp) / name for name in ("reference", "chaos", "faults")}
        with platform(platform_env(homes["reference"], sim.url, extra)), instance_for_test() as i:
            assert all(run_backfill(i))
            reference = checksums(homes["reference"])
        rows = sum(s.rows for s in reference.values())
        report("reference", tables=len(reference), rows=rows,
               seconds=round(time.monotonic() - started))  # fmt: skip

        sim.set_faults({"latency_rate": 1.0, "latency_ms": 60, "apis": list(RESUMABLE)})
        sim.reset_stats()
        env = platform_env(homes["chaos"], sim.url, extra)
        figures = chaos(sim, env, kills=args.kills, seed=args.seed, max_calls_between=40)
        with platform(env):
            bad_chaos = compare(reference, checksums(homes["chaos"]))
        report("chaos", runs=figures.attempts, runs_killed=figures.killed,
               upstream_calls=figures.upstream_calls, partitions=figures.partitions,
               refetched=figures.upstream_calls - figures.partitions, rows_compared=rows,
               mismatches=len(bad_chaos))  # fmt: skip

        rate = args.fault_rate
        sim.set_faults({"seed": args.seed, "error_rate": rate / 2, "timeout_rate": rate / 5,
                        "timeout_s": 1.5, "rate_limit_rate": rate * 3 / 10})  # fmt: skip
        sim.reset_stats()
        env = platform_env(homes["faults"], sim.url, extra)
        with platform(env), instance_for_test() as instance:
            assert all(run_backfill(instance))
            bad_faults = compare(reference, checksums(homes["faults"]))
        detail = sim.stats_detail()
        faults = detail["faults"]
        assert isinstance(faults, dict)
        injected = sum(faults.get(k, 0) for k in ("http_error", "timeout", "rate_limit"))
        report("upstream faults", calls=detail["total_calls"], faults_injected=injected,
               rows_compared=rows, mismatches=len(bad_faults))  # fmt: skip
    report("total", seconds=round(time.monotonic() - started))
    return 0 if not bad_chaos and not bad_faults else 1


if __name__ == "__main__":
    sys.exit(main())
