"""T1/T2 assets end to end: real Dagster runs, the simulator over HTTP, a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from dagster import DagsterInstance

from twilight_assets.partitions import trade_dates
from twilight_assets.plan import ALL_TABLES
from twilight_assets.runner import keys_in_range, materialize_tables
from twilight_resources.settings import get_settings
from twilight_resources.tushare import client_from_settings
from twilight_resources.warehouse import WarehouseReader, normalize_frame, table_spec
from twilight_sim.server import SimServer

PRICE_TABLES = ["daily", "adj_factor", "daily_basic", "weekly", "monthly"]
INDEX_TABLES = ["index_daily", "index_dailybasic", "index_weight"]


def read(sql: str, params: list | None = None) -> pd.DataFrame:
    with WarehouseReader.from_settings(get_settings()) as reader:
        return reader.query(sql, params)


def calls(sim: SimServer) -> dict[str, int]:
    return dict(sim.stats())


def expected_table(api: str, keys: list[str]) -> pd.DataFrame:
    """What the simulator answers for the same calls the asset plans, normalized alike."""
    table = ALL_TABLES[api]
    settings = get_settings()
    client = client_from_settings(settings)
    spec = table_spec(f"normalized_{api}")
    frames = []
    for req in table.plan(keys, settings):
        frame = client.query(req.api_name, req.params, spec.data_columns)
        if table.partition_column:
            frame = frame[frame[table.partition_column].isin(keys)]
        frames.append(frame)
    return normalize_frame(spec, pd.concat(frames, ignore_index=True)).clean


def assert_same_rows(api: str, got: pd.DataFrame, want: pd.DataFrame) -> None:
    spec = table_spec(f"normalized_{api}")
    columns = list(spec.data_columns)
    key = list(spec.primary_key)
    got = got[columns].sort_values(key).reset_index(drop=True)
    want = want[columns].sort_values(key).reset_index(drop=True)
    assert len(got) == len(want) > 0, api
    pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=api)


def test_every_table_materializes_row_for_row(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    apis = list(ALL_TABLES)
    results = materialize_tables(apis, instance)
    assert all(r.success for r in results)
    served = calls(sim)
    days = keys_in_range(instance, trade_dates, "0", "9")
    assert 55 <= len(days) <= 65  # three months of trading days, holidays excluded
    # One call per trade date for the market-wide tables: no wasted or doubled call.
    for api in ("daily", "adj_factor", "daily_basic", "index_dailybasic"):
        assert served[api] == len(days), api
    assert served["index_daily"] == len(get_settings().index_codes)

    sim.reset_stats()
    for api in apis:
        spec = table_spec(f"normalized_{api}")
        got = read(f"SELECT * FROM {spec.name}")
        part = ALL_TABLES[api].partitions
        keys = [""] if part is None else keys_in_range(instance, part, "0", "9")
        assert_same_rows(api, got, expected_table(api, keys))


def test_rerun_spends_no_call_and_changes_nothing(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    materialize_tables(["trade_cal", "daily"], instance)
    before = read("SELECT * FROM normalized_daily ORDER BY ts_code, trade_date")
    ledger = read("SELECT count(*) AS n FROM meta_partition_ledger").n[0]
    sim.reset_stats()
    materialize_tables(["daily"], instance)
    assert calls(sim).get("daily", 0) == 0
    after = read("SELECT * FROM normalized_daily ORDER BY ts_code, trade_date")
    pd.testing.assert_frame_equal(before, after)  # unchanged rows are untouched, ingested_at too
    assert read("SELECT count(*) AS n FROM meta_partition_ledger").n[0] > ledger
    materialize_tables(["daily"], instance)  # skipping must not make the next run refetch
    assert calls(sim).get("daily", 0) == 0


def test_adjusted_views_match_direct_calculation(
    platform: Path, sim: SimServer, instance: DagsterInstance
) -> None:
    materialize_tables(["trade_cal", "daily", "adj_factor"], instance)
    raw = read(
        "SELECT d.ts_code, d.trade_date, d.close, a.adj_factor FROM normalized_daily d "
        "JOIN normalized_adj_factor a USING (ts_code, trade_date) ORDER BY 1, 2"
    )
    latest = raw.groupby("ts_code")["adj_factor"].transform("last")
    qfq = read("SELECT ts_code, trade_date, close FROM daily_qfq ORDER BY 1, 2")
    hfq = read("SELECT ts_code, trade_date, close FROM daily_hfq ORDER BY 1, 2")
    # To 4 decimals, as stored; rounding half-way cases may differ in the last digit.
    qfq_want = (raw["close"] * raw["adj_factor"] / latest).round(4)
    np.testing.assert_allclose(qfq["close"], qfq_want, rtol=0, atol=1.01e-4)
    np.testing.assert_allclose(hfq["close"], (raw["close"] * raw["adj_factor"]).round(4),
                               rtol=0, atol=1.01e-4)  # fmt: skip
    for frame in (qfq, hfq):  # no float noise: every value has at most 4 decimals
        assert ((frame["close"] * 10_000).round() - frame["close"] * 10_000).abs().max() < 1e-6
    assert raw.groupby("ts_code")["adj_factor"].nunique().max() > 1, "no ex-date in range"
