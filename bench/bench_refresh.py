"""Benchmark a daily refresh against the history held, and the disk the warehouse takes.

A refresh should cost what it changed: one trading day of daily, adj_factor and daily_basic on a
5-year warehouse should take about as long and write about as many bytes as on a 1-year one
(target: 5y / 1y <= 1.30), publish at most once, and ``TWILIGHT_HOME`` should stay within 1.5x
the warehouse's own database files after a backfill and after a week of refreshes. Usage::

    python bench/bench_refresh.py [--stocks 5000] [--years-short 1] [--years-long 5]
        [--week-days 5] [--port 18766] [--keep] [--check]

Steps, as a user and the daily schedule would run them, the budget out of the way (high calls per
minute, low latency) so the pipeline is what is measured:

1. ``twilight backfill`` of the short history (the years up to 2024), then the refresh of the
   next trading day;
2. ``twilight backfill`` of the earlier years up to the long history, then the refresh of the day
   after;
3. a week of daily refreshes.

A refresh moves the simulator's clock to 18:00 of the day, evaluates the real
``daily_prices_after_close`` schedule at that time (which registers the day's partition, as the
daemon's tick does) and executes the run it requests with ``dagster job execute`` (the schedule's
job and tags, Dagster's multiprocess executor; the daemon would launch the same run through its
run launcher). Per refresh: wall seconds; CPU seconds and bytes written of the run's process tree
(``getrusage(RUSAGE_CHILDREN)`` deltas, this process adopting and reaping the descendants a
command leaves, such as Dagster's forkserver and the step processes it forked; the block-layer
``write_bytes`` of this process's ``/proc/self/io``, which adds each reaped child's, as a
cross-check); snapshot publishes (the
generation number's advance, for snapshot files ``snapshots/warehouse-gN.duckdb`` and for
generation directories ``snapshots/gN/``). Sizes are disk usage as ``du`` counts it, each inode
once, so files hard-linked between snapshot generations count once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
from benchkit import become_subreaper, children, reap_adopted

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backfill import start_sim  # noqa: E402

from twilight_app.instance import DAGSTER_YAML  # noqa: E402

TABLES = "daily,adj_factor,daily_basic"
SCHEDULE = "daily_prices_after_close"
LAST_YEAR = 2024  # the backfilled history ends here; the refreshes are of the next January
REFRESH_TARGET = 1.30
DISK_TARGET = 1.5
_GENERATION = re.compile(r"(?:^|-)g(\d+)(?:\.duckdb)?$")


def disk_usage(*roots: Path) -> int:
    """Bytes allocated under ``roots`` (files and directories), each inode counted once: what
    ``du -scb --apparent-size=no`` reports, so hard links between generations count once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in roots:
        for path in _walk(root):
            try:
                st = os.lstat(path)
            except FileNotFoundError:  # removed while walking (an old generation)
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _walk(root: Path) -> Iterable[Path]:
    if not root.exists():
        return
    yield root
    for parent, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            yield Path(parent) / name


def generations(snapshots: Path) -> set[int]:
    """Generation numbers published under ``snapshots``: snapshot files (``warehouse-gN.duckdb``)
    or generation directories (``gN``), and any pointer's ``generation``; temporary names (a
    publish under way) do not count."""
    found: set[int] = set()
    if not snapshots.is_dir():
        return found
    for entry in snapshots.iterdir():
        if entry.name.startswith("."):
            continue
        if match := _GENERATION.search(entry.name):
            found.add(int(match.group(1)))
        elif entry.suffix == ".json":
            try:
                found.add(int(json.loads(entry.read_text())["generation"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return found


def latest_generation(snapshots: Path) -> int:
    return max(generations(snapshots), default=0)


@dataclass(frozen=True)
class Sizes:
    """Disk usage of a TWILIGHT_HOME and of its parts, in bytes."""

    home: int
    database: int
    snapshots: int
    spool: int
    dagster: int
    kept: int  # snapshot generations on disk

    @classmethod
    def of(cls, home: Path, warehouse: Path) -> Sizes:
        snapshots = warehouse.parent / "snapshots"
        databases = sorted(warehouse.parent.glob(f"{warehouse.stem}*.duckdb"))
        databases += [p.with_name(p.name + ".wal") for p in databases]
        return cls(
            home=disk_usage(home),
            database=disk_usage(*databases),
            snapshots=disk_usage(snapshots),
            spool=disk_usage(home / "spool"),
            dagster=disk_usage(home / "dagster"),
            kept=len(generations(snapshots)),
        )

    @property
    def ratio(self) -> float:
        return self.home / self.database if self.database else float("inf")


@dataclass(frozen=True)
class Cost:
    """What one command cost: its process tree's wall, CPU and writes, and the publishes."""

    wall: float
    cpu: float
    written: int  # ru_oublock x 512
    io_written: int  # /proc/self/io write_bytes - cancelled_write_bytes (includes children)
    publishes: int


def _self_io() -> dict[str, int]:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return {}
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}


class Failed(Exception):
    """A measured command exited non-zero; ``cost`` is what it cost until then."""

    def __init__(self, message: str, cost: Cost) -> None:
        super().__init__(message)
        self.cost = cost


def measured(cmd: Sequence[str], snapshots: Path, log: Path) -> Cost:
    """Run ``cmd`` and every process it leaves to completion (output to ``log``) and measure
    them; :class:`Failed` if it fails."""
    spared = children()
    before, io_before = resource.getrusage(resource.RUSAGE_CHILDREN), _self_io()
    generation, started = latest_generation(snapshots), time.monotonic()
    with log.open("ab") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - started
    reap_adopted(spared)
    after, io_after = resource.getrusage(resource.RUSAGE_CHILDREN), _self_io()

    def written(io: dict[str, int]) -> int:
        return io.get("write_bytes", 0) - io.get("cancelled_write_bytes", 0)

    cost = Cost(
        wall=wall,
        cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        written=(after.ru_oublock - before.ru_oublock) * 512,
        io_written=written(io_after) - written(io_before),
        publishes=latest_generation(snapshots) - generation,
    )
    if code != 0:
        raise Failed(f"{' '.join(cmd[:4])} ... exited {code}; see {log}", cost)
    return cost


def backfill_command(start: str, end: str) -> list[str]:
    return [
        sys.executable, "-m", "twilight_app", "backfill", "--tables", TABLES,
        "--start", start, "--end", end,
    ]  # fmt: skip


def refresh_command(day: date) -> list[str]:
    """The run the daily schedule's tick at 18:00 of ``day`` requests, as a CLI execution."""
    from dagster import DagsterInstance, RunRequest, build_schedule_context

    from twilight_assets.definitions import defs
    from twilight_resources.calendar import MARKET_TZ

    schedule = defs.resolve_schedule_def(SCHEDULE)
    when = datetime(day.year, day.month, day.day, 18, tzinfo=MARKET_TZ)
    with DagsterInstance.get() as instance:
        context = build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            repository_def=defs.get_repository_def(),
        )
        result = schedule.evaluate_tick(context)
    requests = result.run_requests or []
    if len(requests) != 1 or not isinstance(requests[0], RunRequest):
        raise SystemExit(f"{SCHEDULE} at {when}: no run ({result.skip_message})")
    request = requests[0]
    tags = {
        **request.tags,
        "dagster/partition": request.partition_key,
        "dagster/schedule_name": SCHEDULE,
    }
    return [
        str(Path(sys.executable).with_name("dagster")), "job", "execute",
        "-m", "twilight_assets.definitions", "-j", request.job_name or schedule.job_name,
        "--tags", json.dumps(tags),
    ]  # fmt: skip


def check_materialized(key: str) -> None:
    """Stop unless the run materialized partition ``key`` of every table (both layers)."""
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.get() as instance:
        missing = [
            f"{layer}/{api}"
            for api in TABLES.split(",")
            for layer in ("raw", "normalized")
            if key not in instance.get_materialized_partitions(AssetKey([layer, api]))
        ]
    if missing:
        raise SystemExit(f"the refresh of {key} did not materialize {', '.join(missing)}")


def set_clock(port: int, now: str) -> None:
    httpx.post(f"http://127.0.0.1:{port}/_sim/clock", json={"now": now}).raise_for_status()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Bench:
    args: argparse.Namespace
    home: Path
    logs: Path

    @property
    def warehouse(self) -> Path:
        from twilight_resources.settings import get_settings

        return get_settings().warehouse_file

    @property
    def snapshots(self) -> Path:
        return self.warehouse.parent / "snapshots"

    def backfill(self, first_year: int, last_year: int) -> Cost:
        """The backfill, resumed once as its message advises if a chunk failed (on a loaded
        host Dagster's SQLite event log can refuse a write: "database is locked")."""
        cmd = backfill_command(f"{first_year}0101", f"{last_year}1231")
        log = self.logs / f"backfill-{first_year}.log"
        try:
            return measured(cmd, self.snapshots, log)
        except Failed as exc:
            print(f"{exc}: resuming it once (the figures add both attempts)")
            first = exc.cost
        again = measured(cmd, self.snapshots, log)
        return Cost(*(a + b for a, b in zip(astuple(first), astuple(again), strict=True)))

    def refresh(self, day: date) -> Cost:
        set_clock(self.args.port, f"{day:%Y%m%d}T18:00")
        cmd = refresh_command(day)
        cost = measured(cmd, self.snapshots, self.logs / f"refresh-{day:%Y%m%d}.log")
        check_materialized(f"{day:%Y%m%d}")
        return cost

    def sizes(self) -> Sizes:
        return Sizes.of(self.home, self.warehouse)


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def print_costs(rows: list[tuple[str, Cost]]) -> None:
    print(
        f"{'run':<28} {'wall s':>8} {'CPU s':>8} {'MB written':>11} {'(net)':>9} {'publishes':>9}"
    )
    for name, c in rows:
        print(
            f"{name:<28} {c.wall:>8.1f} {c.cpu:>8.1f} {mb(c.written):>11} {mb(c.io_written):>9} "
            f"{c.publishes:>9}"
        )


def print_sizes(rows: list[tuple[str, Sizes]]) -> None:
    print(
        f"{'after':<28} {'HOME MB':>9} {'DB MB':>9} {'snapshots':>10} {'(kept)':>6} "
        f"{'spool MB':>9} {'dagster':>8} {'HOME/DB':>8}"
    )
    for name, s in rows:
        print(
            f"{name:<28} {mb(s.home):>9} {mb(s.database):>9} {mb(s.snapshots):>10} {s.kept:>6} "
            f"{mb(s.spool):>9} {mb(s.dagster):>8} {s.ratio:>8.2f}"
        )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--years-short", type=int, default=1)
    parser.add_argument("--years-long", type=int, default=5)
    parser.add_argument("--week-days", type=int, default=5, help="daily refreshes after the two")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--calls-per-minute", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    if not 1 <= args.years_short < args.years_long:
        parser.error("need 1 <= --years-short < --years-long")

    root = Path(tempfile.mkdtemp(prefix="twilight-bench-refresh-"))
    home, logs = root / "home", root / "logs"
    (home / "dagster").mkdir(parents=True)
    logs.mkdir()
    (home / "dagster" / "dagster.yaml").write_text(DAGSTER_YAML.read_text(encoding="utf-8"))
    first_year = LAST_YEAR - args.years_long + 1
    os.environ.update(
        TWILIGHT_HOME=str(home),
        TWILIGHT_TUSHARE_API_URL=f"http://127.0.0.1:{args.port}",
        TWILIGHT_CALLS_PER_MINUTE=str(args.calls_per_minute),
        TWILIGHT_HISTORY_START=f"{first_year}0101",
        DAGSTER_HOME=str(home / "dagster"),
    )
    sim_args = SimpleNamespace(
        stocks=args.stocks, start=f"{first_year}0101", end=f"{LAST_YEAR + 1}0131",
        calls_per_minute=args.calls_per_minute, latency_ms=args.latency_ms, throttle=None,
    )  # fmt: skip
    become_subreaper()
    sim = start_sim(sim_args, args.port)  # type: ignore[arg-type]
    try:
        missed = run(Bench(args, home, logs), first_year, sim.pid)
    except Failed as exc:
        raise SystemExit(str(exc)) from None
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait()
        if args.keep:
            print(f"kept {root} (home, logs)")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if args.check and missed:
        raise SystemExit(f"targets missed: {', '.join(missed)}")


def run(bench: Bench, first_year: int, sim_pid: int) -> list[str]:
    """The three steps; the names of the targets missed."""
    from twilight_assets.backfill import materialize_command
    from twilight_resources.calendar import load_calendar
    from twilight_resources.settings import get_settings

    args = bench.args
    set_clock(args.port, f"{LAST_YEAR}1231T23:59:59")  # partitions up to the history's end
    measured(materialize_command(["trade_cal"]), bench.snapshots, bench.logs / "calendar.log")
    january = load_calendar(get_settings()).open_days(
        date(LAST_YEAR + 1, 1, 1), date(LAST_YEAR + 1, 1, 31)
    )
    days = january[: 2 + args.week_days]
    if len(days) < 2 + args.week_days:
        raise SystemExit(f"only {len(days)} trading days in January {LAST_YEAR + 1}")
    short_first = LAST_YEAR - args.years_short + 1
    short, long = f"{args.years_short}y", f"{args.years_long}y"

    backfills = [(f"backfill {short_first}-{LAST_YEAR}", bench.backfill(short_first, LAST_YEAR))]
    sizes = [(f"backfill {short}", bench.sizes())]
    refreshes = [(f"refresh {days[0]:%Y%m%d} ({short})", bench.refresh(days[0]))]
    sizes.append((f"refresh {short}", bench.sizes()))
    backfills.append(
        (f"backfill {first_year}-{short_first - 1}", bench.backfill(first_year, short_first - 1))
    )
    sizes.append((f"backfill {long}", bench.sizes()))
    refreshes.append((f"refresh {days[1]:%Y%m%d} ({long})", bench.refresh(days[1])))
    sizes.append((f"refresh {long}", bench.sizes()))
    for day in days[2:]:
        refreshes.append((f"refresh {day:%Y%m%d} (week)", bench.refresh(day)))
    sizes.append((f"week of {args.week_days} refreshes", bench.sizes()))
    stats = httpx.get(f"http://127.0.0.1:{args.port}/_sim/stats").json()

    print(
        f"tables: {TABLES}; {args.stocks} stocks; histories {short} and {long} ending "
        f"{LAST_YEAR}1231; budget {args.calls_per_minute}/min, latency {args.latency_ms:.0f} ms; "
        f"simulator peak RSS {peak_rss_mb(sim_pid):,.0f} MB"
    )
    print(f"upstream calls: {sum(stats['calls'].values())}, rows: {stats['total_rows']}")
    print(
        "MB written: ru_oublock of the process tree; (net): /proc/self/io write_bytes less "
        "cancelled_write_bytes (pages of files deleted before they reached the disk)"
    )
    print_costs(backfills)
    print()
    print_costs(refreshes)
    one, five = refreshes[0][1], refreshes[1][1]
    ratios = {
        "wall": five.wall / one.wall,
        "CPU": five.cpu / one.cpu,
        "MB written": five.written / one.written if one.written else float("inf"),
    }
    missed = [f"refresh {k} {long}/{short}" for k, r in ratios.items() if r > REFRESH_TARGET]
    print(
        f"ratio {long}/{short}: "
        + ", ".join(f"{k} {r:.2f}" for k, r in ratios.items())
        + f", publishes {five.publishes}/{one.publishes} "
        f"(target <= {REFRESH_TARGET:.2f}: {verdict(max(ratios.values()) <= REFRESH_TARGET)})"
    )
    most = max(c.publishes for _, c in refreshes)
    print(f"publishes per refresh run: at most {most} (target <= 1: {verdict(most <= 1)})")
    if most > 1:
        missed.append("publishes per run")
    print()
    print_sizes(sizes)
    for name, s in (sizes[2], sizes[-1]):
        ok = s.ratio <= DISK_TARGET
        print(f"disk HOME/DB after {name}: {s.ratio:.2f} (target <= {DISK_TARGET}: {verdict(ok)})")
        if not ok:
            missed.append(f"disk after {name}")
    return missed


if __name__ == "__main__":
    main()
