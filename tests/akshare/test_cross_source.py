"""Cross-source verification: an injected disagreement is found, stored, served and posted.

Real Dagster runs over the simulator (Tushare protocol for the warehouse, Eastmoney's for
AKShare, one market), the real check, a real webhook receiver on loopback, the real app.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize
from fastapi.testclient import TestClient

from tests.akshare.conftest import Receiver
from twilight_assets.dagster_shim import partition_range_tags
from twilight_assets.definitions import defs
from twilight_assets.quality import cross_source, sample_codes, verify_daily
from twilight_assets.runner import materialize_tables
from twilight_resources.settings import get_settings, load_settings, reset_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.app import create_app
from twilight_serve.auth import TokenStore
from twilight_sim.akshare import AkshareFaults, Disagreement
from twilight_sim.server import SimServer

START, END = "20240708", "20240712"
BAD = Disagreement(ts_code="600000.SH", trade_date="20240710", field="close", factor=1.05)
SMALL = Disagreement(ts_code="000001.SZ", trade_date="20240711", field="vol", factor=1.005)


def build(instance: DagsterInstance) -> None:
    materialize_tables(["trade_cal", "stock_basic"], instance)
    materialize_tables(["daily"], instance, start=START, end=END)


def check_run(instance: DagsterInstance):
    daily = [a for a in defs.assets or [] if a.key.path[-1] == "daily"]  # type: ignore[union-attr]
    return materialize(
        [*daily, cross_source],
        instance=instance,
        resources=defs.resources,
        tags=partition_range_tags(START, END),
    )


def diffs() -> list[dict]:
    with WarehouseReader.from_settings(get_settings()) as reader:
        frame = reader.query("SELECT * FROM quality_diff ORDER BY trade_date, ts_code, field")
    return frame.to_dict("records")


def test_agreeing_sources_store_no_disagreement(platform: Path, instance: DagsterInstance):
    build(instance)
    stored, figures = verify_daily(get_settings(), (START, END))
    assert stored.empty and figures["compared_rows"] > 40 and figures["critical"] == 0


def test_injected_disagreement_is_found_stored_served_and_posted(
    platform: Path,
    instance: DagsterInstance,
    sim: SimServer,
    webhook: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("TWILIGHT_ALERT_WEBHOOK_URL", webhook.url)
    reset_settings()
    build(instance)
    sim.eastmoney.configure(AkshareFaults(disagreements=[BAD, SMALL]))

    result = check_run(instance)
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "cross_source"
    ]
    assert evaluation.asset_key == AssetKey(["normalized", "daily"])
    assert evaluation.passed is False and evaluation.severity.value == "ERROR"
    assert evaluation.metadata["critical"].value == 1
    assert evaluation.metadata["warning"].value == 1

    rows = {(r["ts_code"], r["field"]): r for r in diffs()}
    assert set(rows) == {("600000.SH", "close"), ("000001.SZ", "vol")}
    bad = rows["600000.SH", "close"]
    assert bad["severity"] == "critical" and str(bad["trade_date"])[:10] == "2024-07-10"
    assert bad["akshare_value"] == pytest.approx(round(bad["warehouse_value"] * 1.05, 2))
    assert bad["rel_diff"] == pytest.approx(0.05, abs=0.001)
    assert rows["000001.SZ", "vol"]["severity"] == "warning"

    (post,) = webhook.posts  # only the critical one is posted
    assert post["critical"] == 1 and post["rows"][0]["ts_code"] == "600000.SH"

    settings = load_settings(bearer_db_path=tmp_path / "tokens.sqlite")
    store = TokenStore(settings.bearer_db_file)
    token = store.create("alice")
    store.close()
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        body = client.get("/quality/diff").json()
        assert body["available"] is True
        # Newest first; days as requests write them, instants in UTC.
        assert [(d["trade_date"], d["severity"]) for d in body["diffs"]] == [
            ("20240711", "warning"), ("20240710", "critical")
        ]  # fmt: skip
        assert all(d["checked_at"].endswith("Z") for d in body["diffs"])
        only = client.get("/quality/diff", params={"severity": "critical"}).json()["diffs"]
        assert [(d["ts_code"], d["field"]) for d in only] == [("600000.SH", "close")]

    # The fault is gone: a later check marks both resolved, and posts nothing.
    sim.eastmoney.configure(AkshareFaults())
    check_run(instance)
    assert {r["severity"] for r in diffs()} == {"resolved"}
    assert len(webhook.posts) == 1


def test_unreachable_webhook_never_fails_the_run(
    platform: Path, instance: DagsterInstance, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIGHT_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("TWILIGHT_QUALITY_DIFF_SAMPLE", "4")
    reset_settings()
    build(instance)
    sim.eastmoney.configure(AkshareFaults(disagreements=[BAD]))
    result = check_run(instance)
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.metadata["compared_stocks"].value == 4
    assert evaluation.metadata["webhook_posted"].value is False


def test_the_sample_is_redrawn_each_day_and_covers_the_market() -> None:
    codes = [f"{n:06d}.SZ" for n in range(1000)]
    day = sample_codes(codes, 100, salt="20240708")
    assert len(day) == 100 and set(day) <= set(codes)
    assert sample_codes(list(reversed(codes)), 100, salt="20240708") == day  # a rerun: same
    assert sample_codes(codes, 100, salt="20240709") != day
    days = [f"202407{d:02d}" for d in range(1, 31)] + [f"202408{d:02d}" for d in range(1, 31)]
    covered = set().union(*(sample_codes(codes, 100, salt=d) for d in days))
    assert len(covered) > 990  # 60 draws of 10%: all but ~(0.9**60) of the market
    assert sample_codes(codes, 0) == codes and sample_codes(codes[:5], 100) == codes[:5]
