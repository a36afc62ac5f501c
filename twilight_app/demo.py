"""`make demo`: build a sample warehouse (every tier), then run every service of the platform.

The Dagster UI with its daemon (``dagster dev``: schedules and sensors tick), the read API and
the MCP HTTP server run as supervised children (:mod:`twilight_app.services`): Ctrl-C, SIGTERM
or an error stops them all, and the embedded simulator with them. A service that fails to start
is reported and the others keep running. A second run reuses the warehouse, the Dagster instance
and the simulator's answers: partitions already fetched cost no upstream call (the financial
statements are refresh tables, so their two periods are asked again: a dozen calls).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from twilight_app.instance import prepare_dagster_home
from twilight_app.services import Service, http_ok, listening, start_services, stop_services, watch
from twilight_resources.catalog import CATALOG, Grain
from twilight_resources.embedded import stop_simulator
from twilight_resources.progress import Reporter
from twilight_resources.settings import TwilightSettings, get_settings

# Loaded first: the calendar registers every other table's partitions.
REFERENCE = [t.api for t in CATALOG if t.grain is Grain.WHOLE]
# Refreshed by report period: the latest ended periods, not the day range.
BY_PERIOD = [t.api for t in CATALOG if t.grain is Grain.PERIOD]
DEMO_USER = "demo"
REPORT_PERIODS = 2  # the latest ended quarters whose disclosures and statements are loaded


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def build_sample_warehouse(settings: TwilightSettings, days: int) -> None:
    """Reference tables, ``days`` trading days of prices and indices, two report periods."""
    from dagster import DagsterInstance

    from twilight_assets.partitions import report_periods, trade_dates
    from twilight_assets.runner import keys_in_range, materialize_tables
    from twilight_resources.tushare.resource import resolve_upstream

    url, _ = resolve_upstream(settings)
    _say(f"upstream: {'real Tushare' if settings.tushare_token else 'simulated market'} at {url}")
    instance = DagsterInstance.get()
    started = time.monotonic()
    with (
        Reporter("[demo] stages", 3, "done", rate=False) as reporter,
        _heartbeat(reporter, settings, CATALOG.apis()) as stage,
    ):

        def progress(group: str, partitions: int) -> None:
            stage(f"{group}: {partitions} partition(s)")
            reporter.say(f"[demo]   {group}: {partitions} partition(s), "
                         f"{time.monotonic() - started:.0f}s so far")  # fmt: skip

        reporter.say("[demo] 1/3 reference tables (calendar, stocks, indices)...")
        materialize_tables(REFERENCE, instance, on_group=progress, with_checks=True)
        reporter.update(1)
        keys = keys_in_range(instance, trade_dates, "0", "9")
        if not keys:
            raise SystemExit("the upstream calendar has no trading day up to today")
        start = keys[-min(days, len(keys))]
        reporter.say(f"[demo] 2/3 prices and indices for {start}..{keys[-1]} "
                     f"({min(days, len(keys))} trading days)")  # fmt: skip
        others = [api for api in CATALOG.apis() if api not in (*REFERENCE, *BY_PERIOD)]
        materialize_tables(
            others, instance, start=start, end=keys[-1], on_group=progress, with_checks=True
        )
        reporter.update(2)
        periods = keys_in_range(instance, report_periods, "0", "9")[-REPORT_PERIODS:]
        if periods:
            reporter.say("[demo] 3/3 disclosure calendar and financial statements for "
                         f"{', '.join(periods)}")  # fmt: skip
            materialize_tables(
                BY_PERIOD,
                instance,
                start=periods[0],
                end=periods[-1],
                on_group=progress,
                with_checks=True,
            )
        reporter.update(3, info="")
    _say(f"sample warehouse ready in {time.monotonic() - started:.0f}s: {settings.warehouse_file}")
    summarize(settings)


@contextmanager
def _heartbeat(
    reporter: Reporter, settings: TwilightSettings, apis: Sequence[str]
) -> Iterator[Callable[[str], None]]:
    """Refresh the stage line every second with the calls made so far, so a run of a minute is
    not a silent minute; yields the setter of what is being worked on."""
    from twilight_resources.tushare.journal import CallJournal

    journal, since = CallJournal(settings.state_dir / "upstream.sqlite"), time.time()
    current = [""]
    done = threading.Event()

    def beat() -> None:
        while not done.wait(1.0):
            reporter.update(info=f"{current[0]}; {journal.count(since, apis)} upstream calls")

    thread = threading.Thread(target=beat, name="demo-progress", daemon=True)
    thread.start()
    try:
        yield lambda text: current.__setitem__(0, text)
    finally:
        done.set()
        thread.join()


def summarize(settings: TwilightSettings) -> None:
    """Rows per table in the published snapshot: what the read API and MCP server will see."""
    from twilight_resources.warehouse import SnapshotUnavailableError, WarehouseReader

    try:
        with WarehouseReader.from_settings(settings, pool_size=1) as reader:
            frame = reader.query(
                "SELECT table_name, sum(rows) AS rows, count(*) AS partitions "
                "FROM meta_partition_latest WHERE table_name LIKE 'normalized_%' "
                "GROUP BY table_name ORDER BY table_name"
            )
    except SnapshotUnavailableError:
        _say("no snapshot published yet")
        return
    columns = (frame[c].tolist() for c in ("table_name", "rows", "partitions"))
    for table, rows, partitions in zip(*columns, strict=True):
        name = str(table).removeprefix("normalized_")
        _say(f"  {name:<18} {int(rows):>9,} rows in {int(partitions):>4} partition(s)")


def services(port: int, api_port: int, mcp_port: int) -> list[Service]:
    """The Dagster UI with its daemon, the read API and the MCP HTTP server."""
    bin_dir = Path(sys.executable).parent
    twilight = str(bin_dir / "twilight")
    return [
        Service(
            "Dagster UI (webserver + daemon)",
            [str(bin_dir / "dagster"), "dev", "-m", "twilight_assets.definitions",
             "-h", "127.0.0.1", "-p", str(port)],
            port,
            f"http://127.0.0.1:{port}",
            http_ok(f"http://127.0.0.1:{port}/server_info"),
        ),
        Service(
            "read API",
            [twilight, "serve", "--host", "127.0.0.1", "--port", str(api_port)],
            api_port,
            f"http://127.0.0.1:{api_port}/docs",
            http_ok(f"http://127.0.0.1:{api_port}/healthz"),
        ),
        Service(
            "MCP server (streamable HTTP)",
            [twilight, "mcp", "--transport", "http", "--host", "127.0.0.1",
             "--port", str(mcp_port)],
            mcp_port,
            f"http://127.0.0.1:{mcp_port}/mcp",
            listening(mcp_port),
        ),
    ]  # fmt: skip


def demo_token(settings: TwilightSettings) -> tuple[str, int] | None:
    """A bearer token for this session (user ``demo``); revoked when the demo stops."""
    from twilight_serve.auth import TokenStore, TokenStoreError

    try:
        store = TokenStore(settings.bearer_db_file)
    except TokenStoreError as exc:
        _say(f"no bearer token: {exc}")
        return None
    try:
        token = store.create(DEMO_USER)
        token_id = max(row.token_id for row in store.list() if row.user == DEMO_USER)
    finally:
        store.close()
    return token, token_id


def revoke(settings: TwilightSettings, token_id: int) -> None:
    from twilight_serve.auth import TokenStore

    store = TokenStore(settings.bearer_db_file)
    try:
        store.revoke(token_id=token_id)
    finally:
        store.close()


def first_query(settings: TwilightSettings) -> str:
    """A /warehouse/daily query for a stock and month the sample warehouse holds."""
    from twilight_resources.warehouse import WarehouseReader

    try:
        with WarehouseReader.from_settings(settings, pool_size=1) as reader:
            row = reader.query(
                "SELECT ts_code, strftime(min(trade_date), '%Y%m%d') AS lo, "
                "strftime(max(trade_date), '%Y%m%d') AS hi FROM normalized_daily "
                "GROUP BY ts_code ORDER BY count(*) DESC, ts_code LIMIT 1"
            ).iloc[0]
    except Exception:  # a hint only: the services run either way
        return "ts_code=600000.SH&start_date=20240101&end_date=20240630"
    return f"ts_code={row.ts_code}&start_date={row.lo}&end_date={row.hi}&adj=qfq"


def print_guide(settings: TwilightSettings, up: list[Service], token: str | None,
                api_port: int) -> None:  # fmt: skip
    _say("---------------------------------------------------------------------------")
    for service in up:
        _say(f"{service.name:<32} {service.url}")
    bearer = token or "$(twilight token create --user you | tail -1)"
    names = {service.name for service in up}
    if "read API" in names:
        _say(f"bearer token for this session (user {DEMO_USER}, revoked on exit): {bearer}")
        _say("first query to try:")
        _say(f"  curl -H 'Authorization: Bearer {bearer}' \\")
        _say(f"    'http://127.0.0.1:{api_port}/warehouse/daily?{first_query(settings)}'")
    if any(name.startswith("MCP") for name in names):
        _say("MCP clients: the URL above with the header 'Authorization: Bearer <token>'")
    _say("Dagster: Assets > normalized/daily > Partitions; Automation shows schedules/sensors")
    _say("Ctrl-C stops everything")
    _say("---------------------------------------------------------------------------")


def serve_forever(
    settings: TwilightSettings, port: int, api_port: int = 8000, mcp_port: int = 8765
) -> None:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    todo = services(port, api_port, mcp_port)
    issued = demo_token(settings)
    try:
        up = start_services(todo, logs, lambda: stop, _say)
        if not up:
            _say("no service started")
            return
        print_guide(settings, up, issued[0] if issued else None, api_port)
        watch(up, lambda: stop, _say)
    finally:
        stop_services(todo)
        if issued:
            revoke(settings, issued[1])
        _say("stopped")


def _build(days: int) -> None:
    build_sample_warehouse(get_settings(), days)


def _build_in_child(days: int) -> None:
    """Build in a child process: Dagster steps lower their CPU priority (batch niceness), and
    the servers started afterwards must not inherit it."""
    child = multiprocessing.get_context("spawn").Process(target=_build, args=(days,))
    child.start()
    try:
        child.join()
    except BaseException:  # Ctrl-C or SIGTERM while building: stop the build too
        child.terminate()
        child.join()
        raise
    if child.exitcode != 0:
        raise SystemExit(f"building the sample warehouse failed (exit status {child.exitcode})")


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run_demo(
    days: int = 60,
    serve: bool = True,
    port: int = 3000,
    api_port: int = 8000,
    mcp_port: int = 8765,
) -> int:
    settings = get_settings()
    prepare_dagster_home(settings)
    # Ctrl-C or SIGTERM while building must still stop the simulator (the finally below), even
    # if this process inherited them ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        _build_in_child(days)
        if serve:
            serve_forever(settings, port, api_port, mcp_port)
    finally:
        if stop_simulator(settings):
            _say("embedded simulator stopped")
    return 0
