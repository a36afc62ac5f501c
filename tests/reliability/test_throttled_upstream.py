"""The upstream as real tokens meet it, through real Dagster runs of the backfill.

- Refused below its stated limit (a throttle that cools the whole token down), the backfill
  ends with the fault-free warehouse and asks no partition twice.
- A spent daily quota fails the run within seconds, naming the API, the quota and its reset;
  the next (simulated) day's rerun finishes from where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import instance_for_test

from tests.reliability.harness import (
    BACKFILL,
    REFERENCE,
    TableSum,
    checksums,
    compare,
    platform,
    platform_env,
    report,
    run_backfill,
)
from twilight_sim.server import SimServer

WINDOW_S = 1.0  # the simulator's and the budget's "minute", shrunk so the test stays short
THROTTLED = {
    "TWILIGHT_RATE_PAUSE_SECONDS": str(WINDOW_S),
    "TWILIGHT_RATE_WINDOW_SECONDS": str(WINDOW_S),
    "TWILIGHT_RATE_PROBE_SECONDS": "600",
}


@pytest.fixture
def limited_sim(clean_sim: SimServer) -> Iterator[SimServer]:
    now = clean_sim.market.clock.now
    yield clean_sim
    clean_sim.set_clock(now)
    clean_sim.set_policy(throttle_per_minute=None, daily_quotas={}, limit_window_s=60.0)
    clean_sim.reset_stats()


def answered(sim: SimServer, api: str) -> int:
    """Calls of ``api`` the simulator answered with data (every call less the refused ones)."""
    refused = sum(apis.get(api, 0) for apis in sim.stats_detail()["refused"].values())
    return sim.stats().get(api, 0) - refused


def test_a_throttled_backfill_matches_the_clean_one_and_asks_nothing_twice(
    limited_sim: SimServer, reference: dict[str, TableSum], home: Path
) -> None:
    # 5 calls of an API per window pass; past that the token is refused for a window, and
    # every call during the cool-down starts it again. The budget itself allows 100,000/min.
    limited_sim.set_policy(
        throttle_per_minute=5, throttle_block_s=WINDOW_S, limit_window_s=WINDOW_S
    )
    with platform(platform_env(home, limited_sim.url, THROTTLED)), instance_for_test() as inst:
        assert all(run_backfill(inst)), "a run failed under the throttle"
        sums = checksums(home)
    refused = limited_sim.stats_detail()["refused"].get("throttled", {})
    report(
        "throttled upstream",
        refused=sum(refused.values()),
        answered={api: answered(limited_sim, api) for api in (*REFERENCE, *BACKFILL)},
    )
    assert sum(refused.values()) >= 1, "the throttle never bit: the test proves nothing"
    assert not compare(reference, sums)
    # One answered call per partition: June 3 to July 5 2024 holds 24 trading days and
    # 5 completed weeks; nothing was asked again after a refusal had been waited out.
    assert answered(limited_sim, "daily") == 24 and answered(limited_sim, "adj_factor") == 24
    assert answered(limited_sim, "weekly") == 5


def test_a_spent_daily_quota_fails_fast_and_the_next_day_finishes(
    limited_sim: SimServer, reference: dict[str, TableSum], home: Path
) -> None:
    limited_sim.set_policy(daily_quotas={"daily": 14})
    env = platform_env(home, limited_sim.url)
    with platform(env), instance_for_test() as instance:
        started = time.monotonic()
        with pytest.raises(Exception) as failed:
            run_backfill(instance, ("daily",))
        elapsed = time.monotonic() - started
        chain: list[str] = []
        error: BaseException | None = failed.value
        while error is not None and len(chain) < 20:
            chain.append(str(error))
            error = error.__cause__ or error.__context__
        text = "\n".join(chain)
        assert "daily quota spent: daily allows 14 calls a day" in text, text[-2000:]
        assert "resets at" in text and "Asia/Shanghai" in text
        assert elapsed < 60, f"the run took {elapsed:.0f} s to give up on a spent quota"
        assert answered(limited_sim, "daily") == 14
        limited_sim.market.clock.advance(days=1)  # the quota counts per day of the market
        assert all(run_backfill(instance, ("daily",)))
        sums = checksums(home, (*REFERENCE, "daily"))
    assert sums["daily"] == reference["daily"]
    # The 14 answers of the first day were kept: the rerun asked only the other 10 days.
    assert answered(limited_sim, "daily") == 24
