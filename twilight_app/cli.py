"""The ``twilight`` command; subcommands import their modules lazily so ``--help`` is fast."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from twilight_resources.calendar import from_key, to_key
from twilight_resources.logs import configure_logging
from twilight_resources.settings import SettingsError, TwilightSettings, get_settings


def _cmd_settings(args: argparse.Namespace, rest: list[str]) -> int:
    """Print the effective settings (secrets masked) as JSON."""
    settings = get_settings()
    shown = json.loads(settings.model_dump_json())
    shown["warehouse_file"] = str(settings.warehouse_file)
    shown["uses_simulator"] = settings.uses_simulator
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def _cmd_plan(args: argparse.Namespace, rest: list[str]) -> int:
    """Print the upstream cost of a backfill (calls and minutes at the budget)."""
    from twilight_assets.plan import ALL_TABLES, plan_backfill, render
    from twilight_resources.calendar import calendar_from_frame, load_calendar
    from twilight_resources.progress import Reporter
    from twilight_resources.tushare import client_from_settings
    from twilight_resources.tushare.resource import api_limits

    parser = argparse.ArgumentParser(prog="twilight plan", description=_cmd_plan.__doc__)
    parser.add_argument("--tables", default=",".join(ALL_TABLES), help="comma-separated APIs")
    parser.add_argument("--start", required=True, help="YYYYMMDD")
    parser.add_argument("--end", required=True, help="YYYYMMDD")
    opts = parser.parse_args(rest)
    settings = get_settings()
    cal = load_calendar(settings)
    tables = opts.tables.split(",")
    with Reporter("plan", len(tables) + 1, "lookups") as reporter:
        if not cal.covers(from_key(opts.start)) or not cal.covers(from_key(opts.end)):
            reporter.say("the stored calendar does not cover the range; asking the upstream "
                         "(1 call)")  # fmt: skip
            reporter.update(info="upstream: trade_cal")
            # A few weeks past the end, so the range's last week and month are known to be over.
            until = to_key(from_key(opts.end) + timedelta(days=40))
            frame = client_from_settings(settings).query(
                "trade_cal",
                {"exchange": settings.market_exchange, "start_date": opts.start,
                 "end_date": until},
            )  # fmt: skip
            cal = calendar_from_frame(frame)
        reporter.update(1, info="")

        def on_table(api: str, done: int) -> None:
            reporter.update(1 + done, info=f"planned {api}")

        plans = plan_backfill(tables, opts.start, opts.end, settings, cal, on_table=on_table)
    print(render(plans, api_limits(settings)))
    return 0


def _ensure_calendar(settings: TwilightSettings, start: str, end: str) -> bool:
    """Whether the stored calendar and the instance's partitions cover [start, end]; when not,
    materialize ``trade_cal`` (2 calls) so they do. False if that run failed."""
    from dagster import DagsterInstance

    from twilight_assets.backfill import materialize_command
    from twilight_resources.calendar import load_calendar
    from twilight_resources.processes import spawn_session, stop_sessions

    def covered() -> bool:
        cal = load_calendar(settings)
        if not cal.covers(from_key(start)) or not cal.covers(from_key(end)):
            return False
        with DagsterInstance.get() as instance:
            keys = set(instance.get_dynamic_partitions("trade_dates"))
        # Open days after the upstream's today are not partitions yet.
        days = [to_key(d) for d in cal.open_days(from_key(start), from_key(end))]
        return bool(keys) and all(day in keys for day in days if day <= max(keys))

    if covered():
        return True
    log_dir = settings.state_dir / "backfills"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "calendar.log"
    print(f"loading the trading calendar first (raw/trade_cal, normalized/trade_cal; log: {log})",
          flush=True)  # fmt: skip
    with log.open("ab") as out:
        proc = spawn_session(materialize_command(["trade_cal"]), stdout=out)
    try:
        code = proc.wait()
    finally:
        stop_sessions([proc])  # Ctrl-C while it runs: stop its session too
    return code == 0 and covered()


def _cmd_backfill(args: argparse.Namespace, rest: list[str]) -> int:
    """Backfill a range as chunked range runs, overlapped so the call budget never idles."""
    from twilight_assets.backfill import (
        CHUNK,
        BackfillProgress,
        pending,
        plan_chunks,
        run_chunks,
        with_calls,
    )
    from twilight_resources.calendar import load_calendar
    from twilight_resources.progress import Reporter
    from twilight_resources.tushare.budget import SPACING_MARGIN
    from twilight_resources.tushare.journal import CallJournal
    from twilight_resources.tushare.resource import budget_from_settings
    from twilight_resources.warehouse.snapshots import publish_deferred

    parser = argparse.ArgumentParser(prog="twilight backfill", description=_cmd_backfill.__doc__)
    parser.add_argument("--tables", required=True, help="comma-separated APIs, one partitioning")
    parser.add_argument("--start", required=True, help="YYYYMMDD")
    parser.add_argument("--end", required=True, help="YYYYMMDD")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="partitions per run, at most")
    parser.add_argument("--parallel", type=int, default=3, help="runs at a time, at most")
    opts = parser.parse_args(rest)
    if opts.chunk < 1 or opts.parallel < 1:
        parser.error("--chunk and --parallel must be at least 1")
    settings = get_settings()
    if not _ensure_calendar(settings, opts.start, opts.end):
        print(
            "twilight backfill: the stored calendar does not cover the range (the upstream's "
            "calendar ends before it, or loading it failed: see the log above)",
            file=sys.stderr,
        )
        return 2
    cal = load_calendar(settings)
    apis = opts.tables.split(",")
    try:
        chunks = plan_chunks(apis, opts.start, opts.end, opts.chunk, cal)
    except ValueError as exc:
        parser.error(str(exc))
    todo = with_calls(pending(chunks, apis, settings), apis, settings, cal)
    print(f"{len(chunks)} chunks of up to {opts.chunk} partitions, {len(chunks) - len(todo)} "
          f"already in the warehouse; {sum(c.calls for c in todo)} upstream calls to make",
          flush=True)  # fmt: skip
    budget = budget_from_settings(settings)

    def seconds_per_call() -> float:
        """At the rates the budget grants now (refusals lower them): APIs go side by side."""
        return 60 / sum(budget.rate(api) for api in apis) * SPACING_MARGIN

    journal, since = CallJournal(settings.state_dir / "upstream.sqlite"), time.time()

    def calls_made() -> int:
        return journal.count(since, apis)

    with Reporter("backfill", sum(c.calls for c in todo), "calls") as reporter:
        progress = BackfillProgress(apis, todo, settings, calls_made, reporter)
        try:
            failed = run_chunks(
                apis, todo, seconds_per_call, calls_made, opts.parallel,
                settings.state_dir / "backfills", niceness=settings.fetch_niceness,
                say=reporter.say, on_poll=progress.poll,
            )  # fmt: skip
        finally:  # a chunk that failed or was stopped before its last write left them waiting
            publish_deferred(settings.warehouse_file)
    if failed:
        print(
            f"twilight backfill: {len(failed)} chunk(s) failed; rerun the same command to "
            "resume (finished partitions are not fetched again)",
            file=sys.stderr,
        )
        return 1
    print(f"backfill complete: {progress.summary()}")
    return 0


def _cmd_publish(args: argparse.Namespace, rest: list[str]) -> int:
    """Publish the warehouse's committed state as a new read snapshot (heals a bad pointer)."""
    from twilight_resources.warehouse.snapshots import (
        deferred_since,
        pointer_problem,
        publish_snapshot,
    )

    parser = argparse.ArgumentParser(prog="twilight publish", description=_cmd_publish.__doc__)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for writers")
    opts = parser.parse_args(rest)
    warehouse = get_settings().warehouse_file
    problem, pending = pointer_problem(warehouse), deferred_since(warehouse)
    try:
        info = publish_snapshot(warehouse, timeout=opts.timeout)
    except (OSError, TimeoutError) as exc:  # a full disk; writers holding the lock too long
        print(
            f"twilight publish: nothing published ({exc}); readers keep the snapshot they have",
            file=sys.stderr,
        )
        return 1
    print(f"published {info.path} (generation {info.generation}, {info.size_bytes / 1e6:.1f} MB)")
    if pending is not None:
        print(f"it holds the writes waiting for a snapshot since {pending:%Y-%m-%d %H:%M:%S} UTC")
    if problem is not None and not (problem == "missing" and info.generation == 1):  # not new
        print(f"the snapshot pointer was {problem}; it now names {info.path.name}")
    return 0


def _cmd_demo(args: argparse.Namespace, rest: list[str]) -> int:
    """Build a sample warehouse (all tiers), then run the Dagster UI, read API and MCP server."""
    from twilight_app.demo import run_demo

    parser = argparse.ArgumentParser(prog="twilight demo", description=_cmd_demo.__doc__)
    parser.add_argument("--days", type=int, default=60, help="trading days of prices to load")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    parser.add_argument("--api-port", type=int, default=8000, help="read API port")
    parser.add_argument("--mcp-port", type=int, default=8765, help="MCP HTTP server port")
    parser.add_argument("--no-serve", action="store_true", help="build the warehouse and exit")
    opts = parser.parse_args(rest)
    return run_demo(
        days=opts.days,
        serve=not opts.no_serve,
        port=opts.port,
        api_port=opts.api_port,
        mcp_port=opts.mcp_port,
    )


def _cmd_serve(args: argparse.Namespace, rest: list[str]) -> int:
    """Run the read API (bearer auth; reads published snapshots, never the warehouse file)."""
    import uvicorn

    from twilight_serve.app import create_app
    from twilight_serve.limits import uvicorn_limits

    parser = argparse.ArgumentParser(prog="twilight serve", description=_cmd_serve.__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    opts = parser.parse_args(rest)
    uvicorn.run(
        create_app(get_settings()), host=opts.host, port=opts.port, log_config=None,
        access_log=False,  # a line per request is noise at API rates; errors are still logged
        **uvicorn_limits(),
    )  # fmt: skip
    return 0


def _cmd_token(args: argparse.Namespace, rest: list[str]) -> int:
    """Create, revoke or list bearer tokens of the read API (stored hashed)."""
    from datetime import UTC, datetime

    from twilight_serve.auth import TokenStore, TokenStoreError

    parser = argparse.ArgumentParser(prog="twilight token", description=_cmd_token.__doc__)
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="print a new token on the last line")
    create.add_argument("--user", required=True, help="who the token is for")
    revoke = actions.add_parser("revoke", help="revoke a token by id, or all tokens of a user")
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--id", type=int, help="token id (see `twilight token list`)")
    target.add_argument("--user", help="revoke every token of this user")
    actions.add_parser("list", help="list tokens (ids and users; never the tokens)")
    opts = parser.parse_args(rest)
    try:
        store = TokenStore(get_settings().bearer_db_file)
    except TokenStoreError as exc:
        print(f"twilight: {exc}", file=sys.stderr)
        return 1
    try:
        if opts.action == "create":
            token = store.create(opts.user)
            print(f"token for {opts.user} (shown once; store it now):")
            print(token)
        elif opts.action == "revoke":
            count = store.revoke(token_id=opts.id, user=opts.user)
            print(f"revoked {count} token(s)")
            return 0 if count else 1
        else:
            print(f"{'id':>4}  {'user':<20} {'created (UTC)':<20} revoked")
            for row in store.list():
                created = datetime.fromtimestamp(row.created_at, UTC).strftime("%Y-%m-%d %H:%M")
                revoked = "yes" if row.revoked_at else "no"
                print(f"{row.token_id:>4}  {row.user:<20} {created:<20} {revoked}")
    finally:
        store.close()
    return 0


def _cmd_mcp(args: argparse.Namespace, rest: list[str]) -> int:
    """Run the MCP server: Tushare-shaped tools, warehouse first, live upstream otherwise."""
    from twilight_serve.mcp import mcp_parser, run_mcp

    opts = mcp_parser("twilight mcp").parse_args(rest)
    return run_mcp(get_settings(), opts.transport, opts.host, opts.port)


def _run_summary(since: float) -> str | None:
    """The newest run created since ``since``: id, status, materializations, check verdicts."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:
        runs = [r for r in instance.get_run_records(limit=1) if r.create_timestamp.timestamp()
                >= since]  # fmt: skip
        if not runs:
            return None
        run = runs[0].dagster_run
        kinds = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}
        events = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=kinds)]
    materialized = sum(e is not None and e.is_step_materialization for e in events)
    checks = [
        e.event_specific_data
        for e in events
        if e is not None and e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    passed = sum(bool(getattr(c, "passed", False)) for c in checks)
    return (f"run {run.run_id}: {run.status.value}, {materialized} materialization(s), "
            f"checks {passed}/{len(checks)} passed")  # fmt: skip


def _cmd_dagster(args: argparse.Namespace, rest: list[str]) -> int:
    """Run the ``dagster`` CLI on this home's instance (DAGSTER_HOME set, simulator reaped)."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    since = time.time() - 1
    proc = subprocess.Popen([dagster, *rest])
    try:
        code = proc.wait()
    except Terminated:  # a SIGTERM reached this process only: pass it on
        proc.terminate()
        code = proc.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C: let it finish stopping
        code = proc.wait()
    if rest[:2] == ["asset", "materialize"] and (summary := _run_summary(since)):
        print(f"twilight dagster: {summary}")
    return code


def _cmd_sim(args: argparse.Namespace, rest: list[str]) -> int:
    from twilight_sim.cli import main as sim_main

    return sim_main(rest)


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace, list[str]], int]]] = {
    "settings": ("show the effective settings (secrets masked)", _cmd_settings),
    "demo": ("build a sample warehouse and start the UIs (what `make demo` runs)", _cmd_demo),
    "plan": ("print a backfill's upstream calls and minutes before running it", _cmd_plan),
    "backfill": ("backfill a range as overlapped chunked runs (resumable)", _cmd_backfill),
    "publish": ("publish a read snapshot of the warehouse now (heals the pointer)", _cmd_publish),
    "serve": ("run the read API (`twilight serve --host --port`)", _cmd_serve),
    "token": ("create, revoke or list read-API bearer tokens", _cmd_token),
    "mcp": ("run the MCP server (`twilight mcp --transport stdio|http --host --port`)", _cmd_mcp),
    "dagster": (
        "run the dagster CLI on this home's instance (`twilight dagster asset ...`)",
        _cmd_dagster,
    ),
    "sim": ("run the simulated Tushare upstream in the foreground (`twilight sim -h`)", _cmd_sim),
}


# These parse their own options.
RAW_ARGS = {"sim", "dagster", "plan", "backfill", "publish", "demo", "serve", "token", "mcp"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twilight", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=name not in RAW_ARGS)
    return parser


# Commands that need no Dagster instance and no upstream.
NO_INSTANCE = {"settings", "sim", "token"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: chunk runs, servers and the simulator stop with us."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():  # signals go to the main one
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # what was running has been stopped on the way out
        print("twilight: stopped", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    configure_logging()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the instance's schema checks
    args, rest = build_parser().parse_known_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"twilight: {exc}", file=sys.stderr)
        return 2
    if args.command in NO_INSTANCE:
        return COMMANDS[args.command][1](args, rest)
    from twilight_app.instance import prepare_dagster_home
    from twilight_resources.embedded import simulator_scope

    os.environ.setdefault("TWILIGHT_HOME", str(settings.home))  # children share this home
    prepare_dagster_home(settings)
    try:
        with simulator_scope(settings):  # one started by this command (or its runs) ends with it
            return COMMANDS[args.command][1](args, rest)
    except SettingsError as exc:
        print(f"twilight: {exc}", file=sys.stderr)
        return 2
