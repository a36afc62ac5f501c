"""Point-in-time statements across a restatement, and refresh tables fetched on every run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from dagster import DagsterInstance

from twilight_assets.factory import fetch_partitions
from twilight_assets.runner import materialize_tables
from twilight_assets.tables import TABLES
from twilight_resources.settings import get_settings
from twilight_resources.tushare import TushareResource
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.fundamentals import (
    _from_tables,
    latest_statements,
    statement_records,
    statements_as_of,
)
from twilight_sim.server import SimServer

STATEMENTS = ("income", "balancesheet", "cashflow", "fina_indicator")


def _restated(reader: WarehouseReader) -> tuple[str, date, date]:
    """A restated income statement: code, original and restatement announcement dates."""
    frame = reader.query(
        "SELECT ts_code, min(f_ann_date) AS first, max(f_ann_date) AS last "
        "FROM normalized_income WHERE end_date = DATE '2023-12-31' "
        "GROUP BY ts_code, report_type HAVING count(*) > 1 ORDER BY ts_code"
    )
    assert len(frame), "the simulated market has no restatement in range"
    row = frame.iloc[0]
    return row["ts_code"], row["first"].date(), row["last"].date()


def test_restatement_is_seen_only_from_its_date(
    sim: SimServer,
    configure: Callable[[Path, str], None],
    tmp_path: Path,
    instance: DagsterInstance,
) -> None:
    configure(tmp_path / "home", "period")
    sim.set_clock("20240520T18:00")  # before the restatement of 27 May
    materialize_tables(["trade_cal"], instance)
    materialize_tables(STATEMENTS, instance)
    sim.set_clock("20240531T18:00")
    sim.reset_stats()
    materialize_tables(STATEMENTS, instance)  # refresh tables are fetched again, not resumed
    assert sim.stats()["income_vip"] == 2  # both periods asked again

    with WarehouseReader.from_settings(get_settings()) as reader:
        code, first, restated = _restated(reader)
        before = statements_as_of(reader, code, "20231231", restated - timedelta(days=1))
        after = statements_as_of(reader, code, "20231231", restated)
        assert before["income"]["f_ann_date"].dt.date.tolist() == [first]
        assert after["income"]["f_ann_date"].dt.date.tolist() == [restated]
        assert before["income"]["n_income"].iloc[0] != after["income"]["n_income"].iloc[0]
        assert set(before) == set(STATEMENTS)
        assert statements_as_of(reader, code, "20231231", first - timedelta(days=1))[
            "income"
        ].empty  # not yet announced
        latest = latest_statements(reader, code)
        assert latest["income"]["end_date"].dt.strftime("%Y%m%d").tolist() == ["20240331"]
        known_then = statements_as_of(reader, code, None, restated)
        assert known_then["income"]["end_date"].max() == latest["income"]["end_date"].max()

        # What the read API serves (the row-shaped copy the IO manager keeps) says the same.
        served = statement_records(reader, code, "20231231", restated - timedelta(days=1))
        assert [r["f_ann_date"] for r in served["income"]] == [f"{first:%Y%m%d}"]
        days = [first - timedelta(days=1), first, restated - timedelta(days=1), restated]
        codes = reader.query("SELECT DISTINCT ts_code FROM normalized_income")["ts_code"]
        for ts_code in codes:
            for day in [*days, date.max]:
                for period in (None, date(2023, 12, 31)):
                    assert statement_records(reader, ts_code, period, day) == _from_tables(
                        reader, ts_code, period, day
                    ), (ts_code, period, day)


def test_refresh_tables_reuse_the_spool_only_within_a_run(
    sim: SimServer,
    configure: Callable[[Path, str], None],
    tmp_path: Path,
) -> None:
    configure(tmp_path / "home", "period")
    sim.set_clock("20240531T18:00")
    income = TABLES["income"]
    tushare = TushareResource()
    keys = ["20231231", "20240331"]
    sim.reset_stats()
    first, spent = fetch_partitions(income, keys, tushare, refetch=False, run_scope="run-a")
    retry, retried = fetch_partitions(income, keys, tushare, refetch=False, run_scope="run-a")
    later, _ = fetch_partitions(income, keys, tushare, refetch=False, run_scope="run-b")
    assert (spent["upstream_calls"], retried["upstream_calls"]) == (2, 0)  # a retry: spool
    assert retried["from_spool"] == 2
    assert sim.stats()["income_vip"] == 4  # a later run asks the upstream again
    assert len(first.frame) == len(retry.frame) == len(later.frame) > 0
