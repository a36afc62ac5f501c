"""``twilight sim``: serve the simulated market in the foreground.

The first line on stdout is the base URL alone (flushed at once), so a parent process can read
it and hand it to ``TWILIGHT_TUSHARE_API_URL``. SIGINT and SIGTERM stop the server cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from twilight_sim.faults import FaultConfig
from twilight_sim.server import SimConfig, SimServer

_FAULT_OPTIONS = {
    "fault_seed": "seed",
    "latency_rate": "latency_rate",
    "latency_ms": "latency_ms",
    "jitter_ms": "jitter_ms",
    "error_rate": "error_rate",
    "timeout_rate": "timeout_rate",
    "timeout_s": "timeout_s",
    "drop_rate": "drop_rate",
    "rate_limit_rate": "rate_limit_rate",
    "rate_limit_burst": "rate_limit_burst",
    "malformed_rate": "malformed_rate",
    "extra_column_rate": "extra_column_rate",
}


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _api_numbers(value: str) -> dict[str, int]:
    pairs = [item.split("=", 1) for item in _csv(value)]
    if any(len(pair) != 2 or not pair[1].isdigit() for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected API=N,API=N, got {value!r}")
    return {api: int(n) for api, n in pairs}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="twilight sim", description="Serve the simulated Tushare market in the foreground."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=20240101)
    p.add_argument("--stocks", type=int, default=200)
    p.add_argument("--indices", type=int, default=5)
    p.add_argument("--start", default="20220101", help="first simulated day, YYYYMMDD")
    p.add_argument("--end", default=None, help="last simulated day (default 20241231)")
    p.add_argument("--now", default=None, help="simulated clock, e.g. 20240415T18:00")
    p.add_argument("--rate-limit", type=int, default=500, help="calls per minute; 0 = none")
    p.add_argument("--tokens", type=_csv, default=None, help="accepted tokens (default: any)")
    p.add_argument("--deny", type=_csv, default=[], help="APIs answered with 'no permission'")
    p.add_argument(
        "--cache-mb",
        type=int,
        default=256,
        help="price history kept in memory, MB (8 bytes a stock-day: 98 MB holds "
        "5,000 stocks x 10 years); what does not fit is regenerated on demand, "
        "cheap for a by-date call, dear for one stock's whole history",
    )
    p.add_argument("--warm", action="store_true", help="generate all prices before serving")
    faults = p.add_argument_group("faults (rates are probabilities per request)")
    faults.add_argument("--fault-seed", type=int, default=0)
    for option in _FAULT_OPTIONS:
        if option == "fault_seed":
            continue
        kind = int if option == "rate_limit_burst" else float
        faults.add_argument("--" + option.replace("_", "-"), type=kind, default=None)
    faults.add_argument("--fault-apis", type=_csv, default=None, help="limit faults to these")
    limits = p.add_argument_group("limits as real tokens meet them (twilight_sim.ratelimit)")
    limits.add_argument(
        "--api-limit",
        type=_api_numbers,
        default={},
        metavar="API=N,...",
        help="stated calls per minute of single APIs",
    )
    limits.add_argument(
        "--throttle",
        type=int,
        default=None,
        metavar="N",
        help="refuse past N calls/min of an API, below the stated limit",
    )
    limits.add_argument(
        "--throttle-block-s",
        type=float,
        default=60.0,
        help="how long a throttled token is refused (calls restart it)",
    )
    limits.add_argument(
        "--daily-quota",
        type=_api_numbers,
        default={},
        metavar="API=N,...",
        help="calls per simulated day of single APIs",
    )
    limits.add_argument("--max-ips", type=int, default=None, help="addresses a token may use")
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    fault_values = {
        field: getattr(args, option)
        for option, field in _FAULT_OPTIONS.items()
        if getattr(args, option) is not None
    }
    return SimConfig(
        seed=args.seed,
        n_stocks=args.stocks,
        start_date=args.start,
        end_date=args.end,
        n_indices=args.indices,
        host=args.host,
        port=args.port,
        rate_limit_per_minute=args.rate_limit or None,
        tokens=args.tokens,
        denied_apis=args.deny,
        now=args.now,
        cache_mb=args.cache_mb,
        warm=args.warm,
        faults=FaultConfig(apis=args.fault_apis, **fault_values),
        api_limits=args.api_limit,
        throttle_per_minute=args.throttle,
        throttle_block_s=args.throttle_block_s,
        daily_quotas=args.daily_quota,
        max_ips=args.max_ips,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Set explicitly: a background process may have inherited SIGINT as ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server = SimServer(config_from_args(args)).start()
    except (ValueError, OSError) as exc:
        print(f"twilight sim: {exc}", file=sys.stderr)
        return 2
    print(server.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0
