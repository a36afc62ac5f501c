"""/quality/*: freshness against the calendar, checks, upstream audit, cross-source diffs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import Clock, Served, market_time
from twilight_resources.settings import TwilightSettings
from twilight_resources.tushare.journal import CallJournal, CallRecord
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.app import create_app


def tables(client: TestClient) -> dict[str, dict]:
    got = client.get("/quality/freshness")
    assert got.status_code == 200, got.text
    return {t["table"]: t for t in got.json()["tables"]}


def test_freshness_matches_the_ledger_and_calendar(
    client: TestClient, clock: Clock, served: Served
) -> None:
    clock.now = market_time("20240731 16:00")
    fresh = tables(client)
    with WarehouseReader.from_settings(served.settings()) as reader:
        daily_rows = int(reader.query("SELECT count(*) AS n FROM normalized_daily")["n"][0])
        partitions = len(reader.partitions("normalized_daily"))
    daily = fresh["normalized_daily"]
    assert (daily["last_partition"], daily["rows"], daily["partitions"]) == (
        "20240731", daily_rows, partitions,
    )  # fmt: skip
    assert (daily["lag"], daily["lag_unit"]) == (0, "trading_days")
    stocks = fresh["normalized_stock_basic"]  # refreshed whole: one partition, no cadence
    assert (stocks["partitioned"], stocks["partitions"], stocks["last_partition"]) == (
        False, 1, None,
    )  # fmt: skip
    assert stocks["lag"] is None and stocks["sessions_behind"] == 0  # written after this close
    clock.now = market_time("20240806 16:00")  # Thu 1, Fri 2, Mon 5, Tue 6 August are due
    got = client.get("/quality/freshness").json()
    assert got["last_closed_session"] == "20240806"
    fresh = {t["table"]: t for t in got["tables"]}
    assert fresh["normalized_daily"]["lag"] == 4
    assert fresh["normalized_daily"]["sessions_behind"] == 4
    assert fresh["normalized_weekly"]["lag_unit"] == "weeks"
    assert fresh["normalized_weekly"]["lag"] == 1  # the week ending 2 August
    # No month has ended since July's last session, but four sessions have closed.
    monthly = fresh["normalized_monthly"]
    assert (monthly["last_partition"], monthly["lag"], monthly["sessions_behind"]) == (
        "20240731", 0, 4,
    )  # fmt: skip


def test_audit_lists_the_journal(client: TestClient, served: Served) -> None:
    journal = CallJournal(served.settings().state_dir / "upstream.sqlite")
    want = journal.recent(limit=5)
    body = client.get("/quality/audit", params={"limit": 5}).json()
    assert [c["api_name"] for c in body["calls"]] == want["api_name"].tolist()
    assert [c["rows"] for c in body["calls"]] == want["rows"].tolist()
    day = next(s for s in body["spend"] if s["window"] == "last_day")
    everything = journal.recent(limit=1_000_000)
    assert day["calls"] == len(everything) > 0
    assert day["requests"] == int(everything["attempts"].sum())
    assert client.get("/quality/audit", params={"limit": 0}).status_code == 422


def test_audit_shows_refusals_per_api(client: TestClient, served: Served) -> None:
    journal = CallJournal(served.settings().state_dir / "upstream.sqlite")
    for refusals in (2, 3):  # what the client journals after calls that waited out pauses
        journal.record(
            CallRecord(
                "refused_api",
                {"trade_date": "20240102"},
                rows=10,
                pages=1,
                attempts=refusals + 1,
                latency_ms=61_000.0,
                outcome="ok",
                refusals=refusals,
                paused_ms=60_000.0,
            )
        )
    body = client.get("/quality/audit").json()
    top = body["apis"][0]
    assert top["api_name"] == "refused_api" and top["refusals"] == 5
    assert top["paused_s"] == 120.0 and top["requests"] == 7 and top["calls"] == 2
    day = next(s for s in body["spend"] if s["window"] == "last_day")
    assert day["refusals"] >= 5


def test_diff_is_empty_until_a_cross_source_check_finds_something(client: TestClient) -> None:
    body = client.get("/quality/diff").json()  # tests/akshare fills and serves it
    assert body["available"] is True and body["diffs"] == []


@pytest.mark.parametrize(
    "query",
    [
        "ts_code=abc", "ts_code=", "ts_code=600000.sh", "ts_code=6000000.SH",
        "ts_code=600000.SH%27%20OR%201=1", "ts_code=600000.SHX", "severity=bad", "limit=0",
        "limit=1001",
    ],
)  # fmt: skip
def test_diff_validates_its_parameters(client: TestClient, query: str) -> None:
    got = client.get(f"/quality/diff?{query}")
    assert got.status_code == 422, got.text
    assert got.json()["detail"].split(":")[0] == query.split("=")[0]


def test_diff_takes_a_valid_ts_code(client: TestClient) -> None:
    got = client.get("/quality/diff?ts_code=600000.SH&severity=critical")
    assert got.status_code == 200, got.text


def test_checks_unavailable_without_dagster_home(client: TestClient) -> None:
    client.app.state.checks.dagster_home = None
    body = client.get("/quality/checks").json()
    assert body["available"] is False and "DAGSTER_HOME" in body["note"]


def test_checks_read_from_the_dagster_instance(
    settings: TwilightSettings, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import AssetCheckEvaluation, AssetKey, DagsterInstance

    home = tmp_path / "dagster"
    home.mkdir()
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        for name, passed in [("primary_key_unique", True), ("ohlc_sane", False)]:
            instance.report_runless_asset_event(
                AssetCheckEvaluation(
                    asset_key=AssetKey(["normalized", "daily"]), check_name=name, passed=passed
                )
            )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with TestClient(create_app(settings)) as client:
        got = client.get("/quality/checks", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["available"] is True
    results = {(c["asset"], c["check"]): c["passed"] for c in body["checks"]}
    assert results[("normalized/daily", "primary_key_unique")] is True
    assert results[("normalized/daily", "ohlc_sane")] is False
    assert all(v is None for k, v in results.items() if k[0] != "normalized/daily")


def test_checks_unreadable_instance_is_reported(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("storage: [not, valid]\n")
    client.app.state.checks.dagster_home = str(tmp_path)
    body = client.get("/quality/checks").json()
    assert body["available"] is False and "could not be read" in body["note"]
