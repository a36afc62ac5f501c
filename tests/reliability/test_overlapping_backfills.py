"""Two backfills of overlapping ranges started at once ask the upstream for each partition
once: the one that claims the overlap first fetches it, the other waits for its write, says so,
and fetches only the rest. Raw rows and ledger entries are not doubled.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.reliability.harness import REPO, platform_env, raw_query, report
from twilight_sim.server import SimServer

# Trade dates (10 June 2024 is a holiday): 9 each, 4 shared, 14 in all.
RANGES = (("20240603", "20240614"), ("20240611", "20240621"))
PARTITIONS = 14
# Slow answers, one at a time, so that both runs are fetching at the same time.
FAULTS = {"latency_rate": 1.0, "latency_ms": 300, "apis": ["daily"]}
TIMEOUT_S = 180


def _run(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.overlap", *args], env=env, cwd=REPO,
            start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_overlapping_backfills_fetch_each_partition_once(
    clean_sim: SimServer, home: Path, tmp_path: Path
) -> None:
    env = platform_env(home, clean_sim.url, {"TWILIGHT_MAX_IN_FLIGHT": "1"})
    reference = _run(env, "reference", log=tmp_path / "reference.log")
    assert reference.wait(TIMEOUT_S) == 0, (tmp_path / "reference.log").read_text()
    clean_sim.set_faults(FAULTS)
    clean_sim.reset_stats()
    logs = [tmp_path / f"backfill-{i}.log" for i in range(len(RANGES))]
    procs = [_run(env, *r, log=log) for r, log in zip(RANGES, logs, strict=True)]
    try:
        codes = [p.wait(TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    texts = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], texts
    calls = clean_sim.stats().get("daily", 0)
    counts = (
        raw_query(
            home,
            "SELECT (SELECT count(*) FROM raw_daily) AS raw, (SELECT count(*) FROM (SELECT "
            "DISTINCT * EXCLUDE (raw_id, fetched_at) FROM raw_daily)) AS raw_distinct, "
            "(SELECT count(*) FROM wh.normalized_daily) AS normalized, (SELECT count(*) FROM "
            "meta_partition_ledger WHERE table_name = 'raw_daily') AS ledger, (SELECT "
            "count(DISTINCT partition_key) FROM meta_partition_ledger WHERE table_name = "
            "'raw_daily') AS partitions",
        )
        .iloc[0]
        .to_dict()
    )
    waited = sum("being fetched by run" in text for text in texts)
    report("overlapping backfills", upstream_calls=calls, expected_partitions=PARTITIONS,
           runs_that_waited=waited, **counts)  # fmt: skip
    assert counts["partitions"] == PARTITIONS
    assert calls == PARTITIONS, "a partition was asked twice"
    assert counts["raw"] == counts["raw_distinct"] == counts["normalized"] > 0
    assert counts["ledger"] == PARTITIONS, "a partition was recorded twice"
    assert waited == 1, "neither run waited: the two did not overlap in time"
