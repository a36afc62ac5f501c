"""Fallback: a token without permission for ``daily`` fills it from AKShare; Tushare replaces it.

Real Dagster runs of ``raw/daily`` + ``normalized/daily`` over the simulator: first with
``daily`` denied (Tushare answers code 40203), then permitted again.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from twilight_assets.runner import materialize_tables
from twilight_resources.settings import get_settings, reset_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_sim.akshare import AkshareFaults
from twilight_sim.server import SimServer

START, END = "20240708", "20240712"


def stored() -> pd.DataFrame:
    with WarehouseReader.from_settings(get_settings()) as reader:
        return reader.query(
            "SELECT ts_code, strftime(trade_date, '%Y%m%d') AS trade_date, close, pre_close, vol, "
            "amount, source FROM normalized_daily ORDER BY ts_code, trade_date"
        )


def tushare(sim: SimServer) -> pd.DataFrame:
    frame = sim.market.query("daily", start_date=START, end_date=END)
    return frame.sort_values(["ts_code", "trade_date"], ignore_index=True)


def daily_metadata(results: list) -> dict:
    (result,) = results
    events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["normalized", "daily"])
    ]
    return events[0].materialization.metadata  # one event per partition, the step's metadata


def test_denied_token_fills_from_akshare_then_tushare_replaces(
    platform: Path, instance: DagsterInstance, sim: SimServer
) -> None:
    materialize_tables(["trade_cal", "stock_basic"], instance)
    sim.set_policy(denied_apis=["daily"])
    sim.reset_stats()

    metadata = daily_metadata(materialize_tables(["daily"], instance, start=START, end=END))
    expected = tushare(sim)
    first = stored()
    assert set(first["source"]) == {"akshare"}
    assert first[["ts_code", "trade_date"]].equals(expected[["ts_code", "trade_date"]])
    assert first["close"].tolist() == expected["close"].tolist()
    assert first["pre_close"].tolist() == pytest.approx(expected["pre_close"].tolist())
    assert first["amount"].tolist() == pytest.approx(expected["amount"].tolist(), rel=1e-12)
    assert (first["vol"] - expected["vol"]).abs().max() <= 0.5  # AKShare's whole lots
    assert metadata["rows_akshare"].value == len(expected) and metadata["rows_tushare"].value == 0
    assert sim.stats().get("akshare:kline", 0) == first["ts_code"].nunique()  # 1 call per stock

    sim.set_policy(denied_apis=[])
    metadata = daily_metadata(materialize_tables(["daily"], instance, start=START, end=END))
    second = stored()
    assert set(second["source"]) == {"tushare"} and len(second) == len(expected)
    assert second["vol"].tolist() == pytest.approx(expected["vol"].tolist())  # Tushare's own
    assert metadata["rows_tushare"].value == len(expected) and metadata["rows_akshare"].value == 0

    # Held from Tushare now: a third run asks nobody.
    sim.reset_stats()
    materialize_tables(["daily"], instance, start=START, end=END)
    assert sim.stats().get("daily", 0) == 0 and sim.stats().get("akshare:kline", 0) == 0


def test_mode_off_fails_like_before(
    platform: Path, instance: DagsterInstance, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIGHT_AKSHARE_MODE", "off")
    reset_settings()
    materialize_tables(["trade_cal", "stock_basic"], instance)
    sim.set_policy(denied_apis=["daily"])
    with pytest.raises(Exception, match="40203"):
        materialize_tables(["daily"], instance, start=START, end=START)


def test_akshare_down_too_raises_tushares_error(
    platform: Path, instance: DagsterInstance, sim: SimServer
) -> None:
    materialize_tables(["trade_cal", "stock_basic"], instance)
    sim.set_policy(denied_apis=["daily"])
    sim.eastmoney.configure(AkshareFaults(down=True))
    with pytest.raises(Exception, match="40203"):
        materialize_tables(["daily"], instance, start=START, end=START)


def test_prefer_mode_asks_akshare_first_and_keeps_its_rows(
    platform: Path, instance: DagsterInstance, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIGHT_AKSHARE_MODE", "prefer")
    reset_settings()
    materialize_tables(["trade_cal", "stock_basic"], instance)
    sim.reset_stats()
    materialize_tables(["daily"], instance, start=START, end=END)
    assert set(stored()["source"]) == {"akshare"} and sim.stats().get("daily", 0) == 0
    sim.reset_stats()
    materialize_tables(["daily"], instance, start=START, end=END)  # held: nobody is asked
    assert sim.stats().get("daily", 0) == 0 and sim.stats().get("akshare:kline", 0) == 0


def test_the_cross_source_check_loads_into_definitions() -> None:
    from dagster import Definitions

    from twilight_assets.definitions import defs
    from twilight_assets.quality import checks

    daily = [a for a in defs.assets or [] if a.key.path[-1] == "daily"]  # type: ignore[union-attr]
    loaded = Definitions(assets=daily, asset_checks=checks, resources=defs.resources)
    graph = loaded.resolve_asset_graph()
    assert any(key.name == "cross_source" for key in graph.asset_check_keys)


def test_tushare_down_past_its_retries_fills_from_akshare(
    platform: Path, instance: DagsterInstance, sim: SimServer
) -> None:
    materialize_tables(["trade_cal", "stock_basic"], instance)
    sim.set_faults(apis=["daily"], error_rate=1.0)  # every daily request answers 5xx
    try:
        materialize_tables(["daily"], instance, start=START, end=START)
    finally:
        sim.set_faults()
    assert set(stored()["source"]) == {"akshare"}
    assert sim.stats_detail()["faults"]  # Tushare was asked (and retried) first
