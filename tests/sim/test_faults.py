"""Fault injection: each kind works, settable at start and at runtime, reproducible by seed."""

from __future__ import annotations

import time

import httpx
import pytest

from twilight_sim.faults import FaultConfig
from twilight_sim.server import SimServer
from twilight_sim.testing import TEST_TOKEN, call, running_simulator, shared_client

MIXED = {
    "seed": 11,
    "error_rate": 0.2,
    "drop_rate": 0.1,
    "rate_limit_rate": 0.1,
    "malformed_rate": 0.2,
    "extra_column_rate": 0.2,
    "latency_rate": 0.2,
    "latency_ms": 5,
    "jitter_ms": 5,
}


def _outcome(url: str, day: str) -> str:
    """A short description of what one request got back."""
    body = {"api_name": "daily", "token": TEST_TOKEN, "params": {"trade_date": day}}
    try:
        r = shared_client().post(url, json=body, timeout=5)
    except httpx.TransportError as exc:
        return f"transport:{type(exc).__name__}"
    if r.status_code != 200:
        return f"http:{r.status_code}"
    answer = r.json()
    if answer["code"] != 0:
        return f"code:{answer['code']}"
    data = answer["data"]
    bad = [v for row in data["items"] for v in row if v in ("--", "2024-13-45")]
    return f"ok:{len(data['fields'])}:{len(bad)}"


def _run(url: str, days: list[str]) -> list[str]:
    return [_outcome(url, d) for d in days] + [_outcome(url, d) for d in days[:10]]


def test_faults_replay_identically_from_their_seed() -> None:
    with running_simulator(n_stocks=20, faults=FaultConfig(**MIXED)) as server:
        days = [str(d) for d in server.market.days.trade_dates[-40:]]
        first = _run(server.url, days)
        server.reset_stats()  # also restarts attempt numbering: a fresh replay
        assert _run(server.url, days) == first
    with running_simulator(n_stocks=20, faults=FaultConfig(**MIXED)) as other:
        assert _run(other.url, days) == first
    kinds = {o.split(":")[0] + ":" + o.split(":")[1] for o in first}
    assert {"http:500", "code:40203"} & kinds and any(o.startswith("transport") for o in first)
    assert any(o.startswith("ok:12") for o in first)  # an unexpected extra column
    assert any(o.startswith("ok") and not o.endswith(":0") for o in first)  # a malformed row
    with running_simulator(n_stocks=20, faults=FaultConfig(**{**MIXED, "seed": 12})) as reseed:
        assert _run(reseed.url, days) != first


def test_retries_of_a_failed_request_get_fresh_draws() -> None:
    with running_simulator(n_stocks=10, faults=FaultConfig(seed=1, error_rate=0.5)) as server:
        outcomes = [_outcome(server.url, "20240510") for _ in range(30)]
        assert any(o.startswith("ok") for o in outcomes)
        assert any(o.startswith("http:5") for o in outcomes)


def test_http_error_drop_timeout_and_latency(small_sim: SimServer) -> None:
    url = small_sim.url
    small_sim.set_faults(error_rate=1.0, error_status=[502])
    assert httpx.post(url, json={"api_name": "daily", "token": "t"}).status_code == 502
    small_sim.set_faults(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        httpx.post(url, json={"api_name": "daily", "token": "t"}, timeout=5)
    small_sim.set_faults(timeout_rate=1.0, timeout_s=3)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json={"api_name": "daily", "token": "t"}, timeout=0.5)
    small_sim.set_faults(latency_rate=1.0, latency_ms=300)
    t0 = time.perf_counter()
    assert call(url, "trade_cal")["code"] == 0
    assert time.perf_counter() - t0 >= 0.3
    small_sim.set_faults()
    assert call(url, "trade_cal")["code"] == 0
    faults = small_sim.stats_detail()["faults"]
    assert {"http_error", "drop", "timeout", "latency"} <= set(faults)


def test_rate_limit_bursts_and_bad_rows(small_sim: SimServer) -> None:
    small_sim.set_faults(rate_limit_rate=1.0)
    burst = call(small_sim.url, "daily")
    assert burst["code"] == 40203 and burst["msg"].startswith("抱歉，您每分钟最多访问该接口")
    small_sim.set_faults(malformed_rate=1.0, extra_column_rate=1.0, extra_column="surprise")
    data = call(small_sim.url, "daily", {"trade_date": "20240510"})["data"]
    assert data["fields"][-1] == "surprise" and len(data["items"][0]) == len(data["fields"])
    values = [v for row in data["items"] for v in row]
    assert "--" in values or "2024-13-45" in values


def test_faults_can_target_some_apis(small_sim: SimServer) -> None:
    small_sim.set_faults(FaultConfig(error_rate=1.0, apis=["daily"]))
    assert call(small_sim.url, "trade_cal")["code"] == 0
    assert httpx.post(small_sim.url, json={"api_name": "daily", "token": "t"}).status_code >= 500


def test_faults_set_at_start_from_the_cli_options() -> None:
    from twilight_sim.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        [
            "--error-rate",
            "0.25",
            "--fault-seed",
            "4",
            "--fault-apis",
            "daily,weekly",
            "--latency-ms",
            "10",
        ]
    )
    faults = config_from_args(args).faults
    assert (faults.error_rate, faults.seed, faults.apis, faults.latency_ms) == (
        0.25,
        4,
        ["daily", "weekly"],
        10.0,
    )
