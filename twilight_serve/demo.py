"""`make demo`: build a sample warehouse, then run the Dagster UI (webserver and daemon).

Every server is started in its own session with default signal handlers (background processes
here may inherit SIGINT ignored) and is always reaped: Ctrl-C, SIGTERM or an error stops them all.
A second run reuses the warehouse, the Dagster instance and the simulator's answers: partitions
already fetched cost no upstream call.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from twilight_resources.embedded import stop_simulator
from twilight_resources.settings import TwilightSettings, get_settings

REPO = Path(__file__).resolve().parents[1]
REFERENCE = ["trade_cal", "stock_basic", "index_basic"]


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def prepare_dagster_home(settings: TwilightSettings) -> Path:
    """``$TWILIGHT_HOME/dagster`` with the repo's dagster.yaml (SQLite instance)."""
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def build_sample_warehouse(settings: TwilightSettings, days: int) -> None:
    from dagster import DagsterInstance

    from twilight_assets.partitions import trade_dates
    from twilight_assets.plan import ALL_TABLES
    from twilight_assets.runner import keys_in_range, materialize_tables
    from twilight_resources.tushare.resource import resolve_upstream

    url, _ = resolve_upstream(settings)
    _say(f"upstream: {'real Tushare' if settings.tushare_token else 'simulated market'} at {url}")
    instance = DagsterInstance.get()
    started = time.monotonic()
    _say("reference tables (calendar, stocks, indices)...")
    materialize_tables(REFERENCE, instance)
    keys = keys_in_range(instance, trade_dates, "0", "9")
    if not keys:
        raise SystemExit("the upstream calendar has no trading day up to today")
    start = keys[-min(days, len(keys))]
    _say(f"prices and indices for {start}..{keys[-1]} ({min(days, len(keys))} trading days)")

    def progress(group: str, partitions: int) -> None:
        _say(f"  {group}: {partitions} partitions, {time.monotonic() - started:.0f}s so far")

    others = [api for api in ALL_TABLES if api not in REFERENCE]
    materialize_tables(others, instance, start=start, end=keys[-1], on_group=progress)
    _say(f"sample warehouse ready in {time.monotonic() - started:.0f}s: {settings.warehouse_file}")


def _spawn(cmd: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    def defaults() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    with log.open("ab") as out:
        return subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=defaults,
        )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve_forever(settings: TwilightSettings, port: int) -> None:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    procs = [
        _spawn(
            [str(bin_dir / "dagster"), "dev", "-m", "twilight_assets.definitions",
             "-h", "127.0.0.1", "-p", str(port)],
            logs / "dagster.log",
        ),
    ]  # fmt: skip
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    _say(f"Dagster UI (webserver + daemon): http://127.0.0.1:{port}  (log: {logs}/dagster.log)")
    _say("try: open the UI, Assets > normalized/daily > Partitions; Ctrl-C stops everything")
    try:
        while not stop and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        _stop(procs)
        _say("stopped")


def run_demo(days: int = 60, serve: bool = True, port: int = 3000) -> int:
    settings = get_settings()
    prepare_dagster_home(settings)
    try:
        build_sample_warehouse(settings, days)
        if serve:
            serve_forever(settings, port)
    finally:
        if stop_simulator(settings):
            _say("embedded simulator stopped")
    return 0
