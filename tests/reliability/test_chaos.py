"""Chaos: a backfill SIGKILLed at random points several times, then rerun, ends where a
fault-free run ends, and asks the upstream for no partition twice.

The backfill runs in its own session (``python -m tests.reliability.backfill``); each attempt is
killed with SIGKILL to its whole process group once the simulator has served a random (seeded)
number of further calls, plus a random pause, so kills land while fetching, normalizing, writing
or publishing. The last attempt runs to completion. A kill can only lose the answers in flight
at that moment (TWILIGHT_MAX_IN_FLIGHT of them); anything else asked twice is a resume bug.
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import (
    RESUMABLE,
    TableSum,
    chaos,
    checksums,
    compare,
    platform,
    platform_env,
    raw_checksums,
    report,
)
from twilight_sim.server import SimServer

KILLS = 3
SEED = 20240603
IN_FLIGHT = 2


def test_sigkilled_backfill_converges(
    clean_sim: SimServer, reference: dict[str, TableSum], reference_home: Path, home: Path
) -> None:
    env = platform_env(home, clean_sim.url, {"TWILIGHT_MAX_IN_FLIGHT": str(IN_FLIGHT)})
    # Slow answers stretch the fetch phase so random kills land inside it as well as after it.
    clean_sim.set_faults({"latency_rate": 1.0, "latency_ms": 60, "apis": list(RESUMABLE)})
    clean_sim.reset_stats()
    figures = chaos(clean_sim, env, kills=KILLS, seed=SEED)
    with platform(env):
        sums, raw = checksums(home), raw_checksums(home)
    with platform(platform_env(reference_home, clean_sim.url)):
        reference_raw = raw_checksums(reference_home)
    # Raw rows too: a kill after a raw commit but before its snapshot must not double them.
    mismatches = compare(reference, sums) + [f"raw_{a}" for a in compare(reference_raw, raw)]
    refetched = figures.upstream_calls - figures.partitions
    report(
        "chaos", runs=figures.attempts, runs_killed=figures.killed,
        upstream_calls=figures.upstream_calls, partitions=figures.partitions,
        refetched=refetched, tables=len(sums), rows_compared=sum(s.rows for s in sums.values()),
        mismatches=len(mismatches),
    )  # fmt: skip
    assert figures.killed >= 1, "every attempt finished before its kill"
    assert not mismatches, f"tables differ from the fault-free run: {mismatches}"
    assert 0 <= refetched <= figures.killed * IN_FLIGHT, "answers already received asked again"
