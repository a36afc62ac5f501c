"""The table catalog: a table added as DDL plus one entry appears everywhere, and an incomplete
one fails naming what is missing."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance
from fastapi.testclient import TestClient
from mcp.server.mcpserver import MCPServer

from tests.serve.conftest import Clock, create_token, market_time
from twilight_assets.checks import KINDS, build_checks
from twilight_assets.definitions import build_definitions
from twilight_assets.plan import plan_backfill, render
from twilight_assets.runner import materialize_tables
from twilight_resources.calendar import load_calendar
from twilight_resources.catalog import (
    BAR_CHECKS,
    CATALOG,
    CatalogError,
    Grain,
    PlannerKind,
    Table,
)
from twilight_resources.settings import get_settings
from twilight_resources.tushare import client_from_settings
from twilight_resources.tushare.resource import api_limits
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.schema import EXTRA_SQL_ENV, SQL_DIR
from twilight_serve.app import create_app
from twilight_serve.mcp.answers import Answerer
from twilight_serve.mcp.catalog import table_tools
from twilight_serve.mcp.request import table_request
from twilight_serve.mcp.tools import register_tools
from twilight_sim.apis import HANDLERS
from twilight_sim.server import SimServer

# A 19th table shaped like daily's answer, so the simulator's daily endpoint serves it.
COPY = Table(
    "daily_copy",
    "prices",
    "Daily bars once more, to prove a table is its DDL and this entry.",
    Grain.TRADE_DATE,
    PlannerKind.BY_TRADE_DATE,
    upstream_api="daily",
    schedules=("daily_prices_after_close",),
    checks=(*BAR_CHECKS, "no_calendar_gaps"),
)
START, END = "20240603", "20240607"  # five trading days


def ddl_like(api: str, new: str, directory: Path) -> Path:
    """DDL for ``normalized_<new>`` (``raw_<new>`` follows from it), copied from ``api``'s."""
    text = (SQL_DIR / "02_normalized.sql").read_text(encoding="utf-8")
    found = re.search(rf"CREATE TABLE IF NOT EXISTS normalized_{api} \(.*?\n\);", text, re.S)
    assert found, f"normalized_{api} not in sql/"
    block = found.group(0).replace(f"normalized_{api} (", f"normalized_{new} (")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "10_extra.sql").write_text(block + "\n", encoding="utf-8")
    return directory


def test_the_house_catalog_is_whole() -> None:
    assert CATALOG.problems() == []
    assert len(CATALOG.tables) == 18


def test_the_catalog_imports_nothing_above_resources() -> None:
    """Serving processes read it: no Dagster, no higher package comes with it."""
    code = (
        "import sys, twilight_resources.catalog; "
        "print(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'dagster', 'twilight_assets', 'twilight_serve', 'twilight_sim'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_simulator_answers_every_api_the_catalog_calls() -> None:
    """The third part of a new table: its endpoint in the simulator (period-mode statements
    call ``<api>_vip``)."""
    vip = {f"{t.calls}_vip" for t in CATALOG if t.planner is PlannerKind.FINANCIAL_REPORT}
    missing = ({t.calls for t in CATALOG} | vip) - set(HANDLERS)
    assert not missing, f"the simulator has no endpoint for {sorted(missing)}"


def test_an_entry_without_ddl_is_named() -> None:
    with pytest.raises(CatalogError, match="daily_copy: no DDL for raw_daily_copy") as caught:
        build_definitions(CATALOG.extended(COPY))
    assert "daily_copy: no DDL for normalized_daily_copy" in str(caught.value)


def test_ddl_without_an_entry_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXTRA_SQL_ENV, str(ddl_like("daily", "orphan", tmp_path)))
    problems = CATALOG.problems()
    assert "raw_orphan: declared in sql/ but no catalog entry for 'orphan'" in problems
    assert "normalized_orphan: declared in sql/ but no catalog entry for 'orphan'" in problems
    with pytest.raises(CatalogError, match="no catalog entry for 'orphan'"):
        build_definitions(CATALOG)


def test_unknown_schedules_dependencies_and_checks_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EXTRA_SQL_ENV, str(ddl_like("daily", "daily_copy", tmp_path)))
    broken = Table(
        **{
            **COPY.__dict__,
            "schedules": ("after_lunch",),
            "extra_deps": ("ghost",),
            "partition_column": "day",
        }
    )
    problems = CATALOG.extended(broken).problems()
    assert "daily_copy: unknown schedule 'after_lunch'" in problems
    assert "daily_copy: depends on unknown table 'ghost'" in problems
    assert "daily_copy: partition column 'day' is not a column of raw_daily_copy" in problems
    odd = Table(**{**COPY.__dict__, "checks": ("primary_key_unique", "smells_right")})
    with pytest.raises(CatalogError, match=r"'daily_copy': \['smells_right'\]"):
        build_checks(CATALOG.extended(odd), KINDS)


def test_a_19th_table_appears_everywhere(
    platform: Path,
    sim: SimServer,
    instance: DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(EXTRA_SQL_ENV, str(ddl_like("daily", "daily_copy", tmp_path / "sql")))
    catalog = CATALOG.extended(COPY).validate()
    location = build_definitions(catalog)
    raw, normalized = AssetKey(["raw", "daily_copy"]), AssetKey(["normalized", "daily_copy"])

    # Assets, the schedule it names, its checks.
    assert {raw, normalized} <= {key for a in location.assets or [] for key in a.keys}  # type: ignore[union-attr]
    job = location.resolve_job_def("daily_prices")
    assert {raw, normalized} <= job.asset_layer.selected_asset_keys
    schedule = location.resolve_schedule_def("daily_prices_after_close")
    assert "daily_copy" in (schedule.description or "")
    checks = {
        key.name
        for c in location.asset_checks or []
        for key in c.check_keys  # type: ignore[union-attr]
        if key.asset_key == normalized
    }
    assert checks == set(COPY.checks)

    # Materialized from the simulator, checks and all.
    materialize_tables(["trade_cal"], instance, location=location)
    results = materialize_tables(
        ["daily_copy"], instance, start=START, end=END, with_checks=True, location=location
    )
    assert all(r.success for r in results)
    evaluations = [e for r in results for e in r.get_asset_check_evaluations()]
    assert {e.check_name for e in evaluations} == set(COPY.checks)
    assert all(e.passed for e in evaluations), [e.description for e in evaluations]

    # Its plan line: five partitions, all fetched, no call left.
    settings = get_settings()
    cal = load_calendar(settings)
    plans = plan_backfill(["daily_copy"], START, END, settings, cal, catalog=catalog)
    line = render(plans, api_limits(settings)).splitlines()[1].split()
    assert line[:4] == ["daily_copy", "5", "5", "0"]

    # Its MCP tool, answered from the warehouse.
    with WarehouseReader.from_settings(settings) as reader:
        answerer = Answerer(settings, reader, lambda: client_from_settings(settings))
        try:
            tools = {t.api: t for t in table_tools(catalog)}
            server = MCPServer("test")
            register_tools(server, answerer, tuple(tools.values()))
            assert "daily_copy" in {t.name for t in asyncio.run(server.list_tools())}
            sim.reset_stats()
            answer = answerer.table(table_request(tools["daily_copy"], {"trade_date": END}))
            assert (answer.source, answer.covered, sim.stats()) == ("warehouse", True, {})
            assert answer.items
        finally:
            answerer.close()

    # Its freshness row, with the cadence of its grain.
    client = TestClient(create_app(settings, Clock(market_time(f"{END} 16:00")), catalog))
    with client:
        client.headers["Authorization"] = f"Bearer {create_token(settings)}"
        got = client.get("/quality/freshness")
    assert got.status_code == 200, got.text
    row = next(t for t in got.json()["tables"] if t["table"] == "normalized_daily_copy")
    assert (row["last_partition"], row["partitions"], row["lag"], row["lag_unit"]) == (
        END, 5, 0, "trading_days",
    )  # fmt: skip
