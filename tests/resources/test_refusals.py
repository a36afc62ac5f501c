"""Refusals as real tokens meet them, over real HTTP against the simulator.

Every wording users have reported (``refusals.json``, with its source) is read as what it means:
a per-minute or per-hour limit pauses the whole token and is retried; a daily quota, the IP
limit and a missing permission fail at once, after one request, with a clear message. The
budget then keeps every thread and process of the token out of a pause it recorded.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from twilight_resources.tushare import (
    TushareAuthError,
    TushareClient,
    TushareError,
    TushareIpLimit,
    TusharePermissionError,
    TushareQuotaExhausted,
    TushareRateLimited,
    TushareRefused,
    TushareRequest,
    TushareRetriesExhausted,
)
from twilight_resources.tushare.budget import DECREASE, CallBudget, budget_key
from twilight_resources.tushare.limits import ApiLimits
from twilight_sim.server import SimServer, start_simulator

TOKEN = "refusal-test-token-0123456789"
REFUSALS = json.loads((Path(__file__).with_name("refusals.json")).read_text())["refusals"]
KINDS: dict[str, type[TushareError]] = {
    "rate": TushareRateLimited, "quota": TushareQuotaExhausted, "ip": TushareIpLimit,
    "permission": TusharePermissionError, "auth": TushareAuthError,
}  # fmt: skip
WINDOW_S = 1.0  # the simulator's and the budget's counting window, a minute shrunk for tests


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with start_simulator(
        seed=5,
        n_stocks=20,
        start_date="20240101",
        end_date="20240331",
        rate_limit_per_minute=None,
        limit_window_s=WINDOW_S,
    ) as server:
        yield server


@pytest.fixture
def clean(sim: SimServer) -> Iterator[SimServer]:
    yield sim
    sim.set_faults({})
    sim.set_policy(
        throttle_per_minute=None,
        daily_quotas={},
        max_ips=None,
        api_limits={},
        rate_limit_per_minute=None,
    )
    sim.reset_stats()


def budget(tmp_path: Path, pause_s: float = WINDOW_S) -> CallBudget:
    return CallBudget(
        tmp_path / "upstream.sqlite",
        budget_key(TOKEN),
        100_000,
        pause_seconds=pause_s,
        window_s=WINDOW_S,
    )


def client(url: str, tmp_path: Path, **kw: object) -> TushareClient:
    kw.setdefault("budget", budget(tmp_path))
    return TushareClient(url, TOKEN, backoff_base=0.01, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", REFUSALS, ids=[f"{r['kind']}-{i}" for i, r in enumerate(REFUSALS)])
def test_each_reported_wording_is_read_as_what_it_means(
    case: dict, clean: SimServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clean.set_faults(
        refusal_rate=1.0, refusal_messages=[case["message"]], refusal_code=case["code"]
    )
    tushare = client(clean.url, tmp_path, rate_limit_retries=1)
    with caplog.at_level(logging.WARNING), pytest.raises(TushareError) as raised:
        tushare.query("trade_cal", {"start_date": "20240102", "end_date": "20240105"})
    error = raised.value
    requests = clean.stats()["trade_cal"]
    if case["kind"] == "rate":
        # Transient: retried after the token's pause, until the retries run out.
        assert isinstance(error, TushareRetriesExhausted) and requests == 2
        assert isinstance(error.last, TushareRateLimited)
        assert (error.last.limit.calls, error.last.limit.window) == (case["calls"], case["window"])
        assert tushare.pressure()["trade_cal"].refusals == 2
        assert tushare.budget is not None and tushare.budget.paused_until() > time.time() - 1
    else:
        assert isinstance(error, KINDS[case["kind"]]) and requests == 1, type(error)
    if case["kind"] == "quota":
        assert f"allows {case['calls']} calls a day" in str(error)
        assert "resets at" in str(error) and "Asia/Shanghai" in str(error)
    if case["kind"] == "ip":
        assert "more IP addresses than its tier allows" in str(error)
    assert TOKEN not in str(error) and TOKEN not in caplog.text


def test_an_unknown_refusal_is_logged_and_not_taken_for_a_permission(
    clean: SimServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clean.set_faults(refusal_rate=1.0, refusal_messages=["抱歉，系统维护中"])
    with caplog.at_level(logging.WARNING), pytest.raises(TushareRefused) as raised:
        client(clean.url, tmp_path).query("trade_cal")
    assert "unrecognised refusal: 抱歉，系统维护中" in str(raised.value)
    assert "unrecognised refusal (code 40203)" in caplog.text and "抱歉，系统维护中" in caplog.text
    # A new wording that still speaks of a limit is read as one (and logged as unknown).
    clean.set_faults(refusal_rate=1.0, refusal_messages=["抱歉，您的访问次数已达上限"])
    with caplog.at_level(logging.WARNING), pytest.raises(TushareRetriesExhausted) as raised:
        client(clean.url, tmp_path, rate_limit_retries=0).query("trade_cal")
    assert isinstance(raised.value.last, TushareRateLimited)
    assert "wording unknown" in caplog.text


def daily_requests(sim: SimServer, n: int) -> list[TushareRequest]:
    days = [str(d) for d in sim.market.days.trade_dates[:n]]
    return [TushareRequest("daily", {"trade_date": d}) for d in days]


def test_a_throttle_below_the_stated_limit_pauses_the_token_then_every_call_passes(
    clean: SimServer, tmp_path: Path
) -> None:
    # The simulator refuses past 5 calls per window although no limit is stated, and cools
    # the token down for a window, restarted by every call made meanwhile.
    clean.set_policy(throttle_per_minute=5, throttle_block_s=WINDOW_S)
    tushare = client(clean.url, tmp_path)
    answers = list(tushare.query_many(daily_requests(clean, 40)))
    assert len(answers) == 40 and all(len(frame) for _, frame in answers)
    refused = clean.stats_detail()["refused"]["throttled"]["daily"]
    # Only calls already in flight with the first refusal were refused: none was sent into a
    # recorded pause, and the rate the budget resumed at passes.
    assert 1 <= refused <= tushare.max_in_flight
    assert clean.stats()["daily"] - refused == 40  # each day answered exactly once
    pressure = tushare.pressure()["daily"]
    assert pressure.refusals == refused and pressure.paused_s >= 0.8 * WINDOW_S
    assert tushare.budget is not None
    rate = tushare.budget.rate("daily")
    assert rate < 5 * 60 / WINDOW_S, "resumes below the rate it was refused at"


def test_per_api_budgets_are_independent(clean: SimServer, tmp_path: Path) -> None:
    shared = budget(tmp_path)
    slots = [shared.reserve("daily").at for _ in range(3)]
    shared.refused("daily", slots[-1])  # two calls passed in the window before: 120/min
    assert shared.rate("daily") == pytest.approx(DECREASE * 2 * 60 / WINDOW_S)
    assert shared.rate("adj_factor") == 100_000
    assert shared.paused_until() > time.time(), "a refusal pauses every API of the token"


def test_a_refusal_below_the_stated_limit_holds_every_api_to_the_same_share(
    tmp_path: Path,
) -> None:
    limits = ApiLimits(60, {"daily": 120})
    shared = CallBudget(tmp_path / "b.sqlite", budget_key(TOKEN), limits, window_s=2.0)
    slots = [shared.reserve("daily").at for _ in range(5)]  # 0.5 s apart: using its budget
    time.sleep(max(0.0, slots[-1] - time.time()) + 0.05)  # the calls went out on their slots
    refusal = shared.refused("daily", slots[-1])  # 3 calls in the 2 s before: 90 of 120/min
    assert refusal.rate == pytest.approx(DECREASE * 90)
    share = refusal.rate / 120
    assert shared.rate("weekly") == pytest.approx(60 * share), "the same share of its limit"
    # A second refusal of a call sent before the cut is the same event: nothing is cut again.
    assert not shared.refused("weekly", slots[-2]).decreased
    assert shared.rate("weekly") == pytest.approx(60 * share)
    assert shared.paused_seconds() == pytest.approx(60, abs=1)


WORKER = """
import json, sys
from pathlib import Path
from twilight_resources.tushare import TushareClient, TushareRequest
from twilight_resources.tushare.budget import DECREASE, CallBudget, budget_key
from twilight_resources.tushare.limits import ApiLimits
url, state, days = sys.argv[1], Path(sys.argv[2]), sys.argv[3].split(",")
budget = CallBudget(state, budget_key(sys.argv[4]), 100_000, pause_seconds=1.0, window_s=1.0)
client = TushareClient(url, sys.argv[4], budget=budget, backoff_base=0.01)
reqs = [TushareRequest("daily", {"trade_date": d}) for d in days]
assert sum(1 for _ in client.query_many(reqs)) == len(reqs)
p = client.pressure().get("daily")
print(json.dumps({"refusals": p.refusals if p else 0, "paused_s": p.paused_s if p else 0}))
"""


def test_two_processes_of_one_token_both_pause(clean: SimServer, tmp_path: Path) -> None:
    clean.set_policy(throttle_per_minute=6, throttle_block_s=WINDOW_S)
    days = [str(d) for d in clean.market.days.trade_dates[:40]]
    state = tmp_path / "upstream.sqlite"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, clean.url, str(state), ",".join(half), TOKEN],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for half in (days[:20], days[20:])
    ]
    outputs = [p.communicate(timeout=90)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    figures = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    # Whichever process was refused, both waited out the token's pause.
    assert all(f["paused_s"] >= 0.5 for f in figures), figures
    refused = clean.stats_detail()["refused"]["throttled"]["daily"]
    assert sum(f["refusals"] for f in figures) == refused <= 2 * 4
    assert clean.stats()["daily"] - refused == 40
