"""The financial checks pass on a consistent market and catch the faults they name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import DagsterInstance

from twilight_assets.checks import run_probe
from twilight_assets.definitions import CHECK_KINDS
from twilight_assets.financials import checks as fc
from twilight_assets.runner import materialize_tables
from twilight_resources.catalog import CATALOG
from twilight_resources.settings import get_settings
from twilight_resources.warehouse import publish_snapshot, table_spec
from twilight_resources.warehouse.locking import connect_writable, write_lock
from twilight_sim.server import SimServer


@pytest.fixture
def filled(
    sim: SimServer,
    configure: Callable[[Path, str], None],
    tmp_path: Path,
    instance: DagsterInstance,
) -> None:
    configure(tmp_path / "home", "period")
    sim.set_clock("20240531T18:00")
    materialize_tables(["trade_cal"], instance)
    materialize_tables(["disclosure_date"], instance)
    statements = [api for api in CATALOG.apis("financials") if api != "disclosure_date"]
    materialize_tables(statements, instance)


def test_every_financial_check_passes(filled: None) -> None:
    results = {
        (kind.name, api): run_probe(table_spec(f"normalized_{api}"), kind.probe, kind.name)
        for api in CATALOG.apis("financials")
        for kind in CHECK_KINDS
        if kind.name in CATALOG[api].checks
    }
    failed = {k: r.description for k, r in results.items() if not r.passed}
    assert not failed
    assert results[("balances", "balancesheet")].metadata["table_rows"].value > 0
    checked = results[("disclosures_have_income", "income")].metadata["disclosures_checked"]
    assert checked.value > 16  # every stock, several periods: the check is not vacuous


def _tamper(sql: str) -> None:
    """Change the warehouse behind the writer's back, then publish it for the checks."""
    warehouse = get_settings().warehouse_file
    with write_lock(warehouse, 60):
        conn = connect_writable(warehouse, {}, 60)
        try:
            conn.execute(sql)
        finally:
            conn.close()
    publish_snapshot(warehouse)


def test_checks_catch_faults(filled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """One filled warehouse, three faults, each caught by its check (a fill costs ~30 s)."""
    with monkeypatch.context() as patch:
        patch.setattr(fc, "BALANCE_ABS_TOL", -1.0)  # a zero gap now exceeds the tolerance
        patch.setattr(fc, "BALANCE_REL_TOL", 0.0)
        result = run_probe(
            table_spec("normalized_balancesheet"), fc.balance_sheet_balances, "balances"
        )
    assert not result.passed and "balance sheet(s)" in (result.description or "")

    _tamper(
        "DELETE FROM normalized_income WHERE (ts_code, end_date) IN "
        "(SELECT ts_code, end_date FROM normalized_income ORDER BY ALL LIMIT 1)"
    )
    result = run_probe(
        table_spec("normalized_income"), fc.disclosures_have_income, "disclosures_have_income"
    )
    assert not result.passed
    assert "without an income statement" in (result.description or "")
    assert result.metadata["missing_statements"].value == 1

    _tamper(
        "UPDATE normalized_forecast SET ann_date = DATE '2099-01-01' WHERE (ts_code, end_date) "
        "IN (SELECT f.ts_code, f.end_date FROM normalized_forecast f JOIN normalized_income "
        "USING (ts_code, end_date) ORDER BY ALL LIMIT 1)"
    )
    result = run_probe(
        table_spec("normalized_forecast"), fc.announced_before_report, "announced_before_report"
    )
    assert not result.passed
    assert "dated after the report" in (result.description or "")
    assert result.metadata["late_announcements"].value >= 1
