"""Upstream faults: with 10% of calls answered by a 5xx, a timeout or a rate-limit answer, the
backfill still converges to the fault-free checksums (retries absorb every fault).
"""

from __future__ import annotations

from pathlib import Path

from dagster import instance_for_test

from tests.reliability.harness import (
    TableSum,
    checksums,
    compare,
    platform,
    platform_env,
    report,
    run_backfill,
)
from twilight_sim.server import SimServer

# 10% of calls in all: 5% 5xx, 2% timeouts (the simulator holds the answer past the client's
# timeout), 3% rate-limit answers. Seeded, so a failure replays.
FAULTS = {
    "seed": 9, "error_rate": 0.05, "timeout_rate": 0.02, "timeout_s": 1.5,
    "rate_limit_rate": 0.03,
}  # fmt: skip
SETTINGS = {"TWILIGHT_REQUEST_TIMEOUT": "0.5", "TWILIGHT_RETRY_ATTEMPTS": "6"}


def test_backfill_converges_through_upstream_faults(
    clean_sim: SimServer, reference: dict[str, TableSum], home: Path
) -> None:
    clean_sim.set_faults(FAULTS)
    with platform(platform_env(home, clean_sim.url, SETTINGS)), instance_for_test() as instance:
        assert all(run_backfill(instance)), "a run failed despite retries"
        sums = checksums(home)
    detail = clean_sim.stats_detail()
    faults = detail["faults"]
    assert isinstance(faults, dict)
    injected = sum(faults.get(k, 0) for k in ("http_error", "timeout", "rate_limit"))
    calls = detail["total_calls"]
    mismatches = compare(reference, sums)
    report(
        "upstream faults", calls=calls, faults_injected=injected,
        http_5xx=faults.get("http_error", 0), timeouts=faults.get("timeout", 0),
        rate_limited=faults.get("rate_limit", 0), tables=len(sums),
        rows_compared=sum(s.rows for s in sums.values()), mismatches=len(mismatches),
    )  # fmt: skip
    assert injected >= 3, f"too few faults to prove anything: {faults}"
    assert not mismatches, f"tables differ from the fault-free run: {mismatches}"
