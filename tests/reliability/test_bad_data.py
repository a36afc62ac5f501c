"""Bad upstream data: malformed rows and a new, unexpected column.

The raw layer keeps every answer as received (bad values as text, the unknown column in
``extra_fields``); the normalized layer keeps only rows that cast, sends the others to
``meta_quarantine`` with a reason naming the column and the value, and does not grow a column.
Failing asset checks then flag the table, naming the quarantined rows and the new column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import ExecuteInProcessResult, instance_for_test

from tests.reliability.harness import REFERENCE, platform, platform_env, raw_query, report
from twilight_assets.checks import no_quarantined_rows, no_unknown_columns, run_probe
from twilight_assets.runner import materialize_tables
from twilight_resources.warehouse import WarehouseReader, table_spec
from twilight_sim.server import SimServer

FAULTS = {"seed": 5, "malformed_rate": 0.4, "extra_column_rate": 0.4, "apis": ["daily"]}
EXTRA = "sim_extra"  # the column the simulator adds


@dataclass(frozen=True)
class Loaded:
    home: Path
    results: list[ExecuteInProcessResult]
    faults: dict[str, int]


@pytest.fixture(scope="module")
def loaded(sim: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """daily loaded once from answers with malformed values and an unexpected column."""
    home = tmp_path_factory.mktemp("bad-data") / "home"
    sim.set_faults(FAULTS)
    sim.reset_stats()
    try:
        with platform(platform_env(home, sim.url)), instance_for_test() as instance:
            materialize_tables(list(REFERENCE), instance)
            results = materialize_tables(["daily"], instance)
    finally:
        sim.set_faults({})
    faults = sim.stats_detail()["faults"]
    assert isinstance(faults, dict)
    return Loaded(home, results, faults)


def scalar(reader: WarehouseReader, sql: str) -> int:
    return int(reader.query(sql).iloc[0, 0])


def test_raw_keeps_bad_rows_normalized_quarantines_them(loaded: Loaded) -> None:
    assert all(r.success for r in loaded.results), "bad rows must not fail the run"
    faults = loaded.faults
    assert faults.get("malformed") and faults.get("extra_column")
    raw = int(raw_query(loaded.home, "SELECT count(*) FROM raw_daily").iloc[0, 0])
    extra = int(
        raw_query(
            loaded.home,
            f"SELECT count(*) FROM raw_daily WHERE extra_fields ->> '{EXTRA}' IS NOT NULL",
        ).iloc[0, 0]
    )
    quarantine = raw_query(
        loaded.home,
        "SELECT q.reason, q.raw_row, r.raw_id AS kept FROM wh.meta_quarantine q "
        "LEFT JOIN raw_daily r USING (raw_id) WHERE q.table_name = 'normalized_daily'",
    )
    with WarehouseReader(loaded.home / "warehouse" / "warehouse.duckdb") as reader:
        normalized = scalar(reader, "SELECT count(*) FROM normalized_daily")
        columns = set(reader.query("SELECT * FROM normalized_daily LIMIT 0").columns)
    report(
        "bad data", raw_rows=raw, rows_with_new_column=extra, quarantined=len(quarantine),
        normalized_rows=normalized, malformed_answers=faults["malformed"],
        new_column_answers=faults["extra_column"],
    )  # fmt: skip
    assert 0 < extra < raw, "the new column is not kept in raw_daily.extra_fields as received"
    assert EXTRA not in columns, "the normalized table grew an undeclared column"
    assert len(quarantine) >= faults["malformed"] > 0
    assert quarantine["kept"].notna().all(), "a quarantined row is missing from raw_daily"
    # Each reason names the column and the value that did not cast.
    for reason in quarantine["reason"]:
        assert "2024-13-45" in reason or "'--'" in reason, reason
        assert any(column in reason for column in ("trade_date", "open")), reason
    assert normalized == raw - len(quarantine)


def test_asset_checks_fail_on_bad_data(loaded: Loaded, sim: SimServer) -> None:
    spec = table_spec("normalized_daily")
    with platform(platform_env(loaded.home, sim.url)):
        quarantined = run_probe(spec, no_quarantined_rows, "no_quarantined_rows")
        unknown = run_probe(spec, no_unknown_columns, "no_unknown_columns")
    assert not quarantined.passed and "quarantined" in str(quarantined.description)
    assert quarantined.metadata["quarantined_rows"].value > 0
    assert not unknown.passed and EXTRA in str(unknown.description)
    assert unknown.metadata["unknown_columns"].value == 1
