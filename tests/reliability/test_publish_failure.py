"""The read snapshot after a committed write fails half-way (the disk fills up, or the process
is killed); the rerun finishes the job with no duplicate raw row and no ledger entry twice.
Raw writes publish nothing (the raw file is in no snapshot), so the first publish to fail is the
normalized write's, after its raw write committed.

On a full disk (ENOSPC) the run fails clearly, the half generation is removed, and the rerun
publishes the held write before it decides what to fetch. After a kill nothing marks the write
unpublished: the rerun's resume check misses it and reads the fetch back from the spool, and
the writer recognizes the fetch it holds already. Either way raw and normalized tables then
hash as a fault-free run's, and no partition is asked twice.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from dagster import instance_for_test

from tests.reliability.harness import (
    BACKFILL,
    REFERENCE,
    TableSum,
    checksums,
    compare,
    held_partitions,
    platform,
    platform_env,
    raw_checksums,
    raw_query,
    report,
    resumable_calls,
)
from twilight_assets.runner import materialize_tables
from twilight_resources.settings import get_settings
from twilight_resources.warehouse import snapshots as snapshots_module
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.rawfile import raw_path
from twilight_resources.warehouse.snapshots import TMP_PREFIX, snapshot_dir
from twilight_sim.server import SimServer


class Killed(Exception):
    """Stands in for a SIGKILL mid-publish: the writer gets no chance to mark anything."""


def _half_part(staging: Path, table: str) -> Path:
    target = staging / f"{table}.duckdb"
    target.write_bytes(b"\0" * 8192)
    return target


def _disk_full(conn: object, staging: Path, table: str, bucket: int | None) -> None:
    """Write half a part, then fail as a full disk does."""
    target = _half_part(staging, table)
    raise OSError(errno.ENOSPC, "No space left on device", str(target))


def _killed(conn: object, staging: Path, table: str, bucket: int | None) -> None:
    _half_part(staging, table)
    raise Killed("publish interrupted")


# How the publish fails, and what the failed run says.
FAULTS = {
    "disk_full": (_disk_full, "No space left on device"),
    "killed": (_killed, "publish interrupted"),
}


def _committed_raw_rows(warehouse: Path) -> int:
    """Raw rows in the raw file (no snapshot holds them)."""
    conn = connect(raw_path(warehouse), read_only=True)
    try:
        return sum(
            conn.execute(f"SELECT count(*) FROM raw_{api}").fetchone()[0] for api in BACKFILL
        )
    finally:
        conn.close()


def _doubled(home: Path) -> dict[str, int]:
    """Per raw table: rows stored more than once, and partitions with more than one ledger row."""
    out = {}
    for api in BACKFILL:
        rows = raw_query(
            home,
            f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE (raw_id, "
            f"fetched_at) FROM raw_{api})) AS n FROM raw_{api}",
        )["n"].iloc[0]
        ledger = raw_query(
            home,
            "SELECT count(*) - count(DISTINCT partition_key) AS n FROM meta_partition_ledger "
            f"WHERE table_name = 'raw_{api}'",
        )["n"].iloc[0]
        out[f"raw_{api}"], out[f"ledger_raw_{api}"] = int(rows), int(ledger)
    return out


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_rerun_after_failed_publish_leaves_no_duplicate(
    fault: str,
    clean_sim: SimServer,
    reference: dict[str, TableSum],
    reference_home: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with platform(platform_env(reference_home, clean_sim.url)):
        reference_raw = raw_checksums(reference_home)
    with platform(platform_env(home, clean_sim.url)), instance_for_test() as instance:
        assert all(r.success for r in materialize_tables(list(REFERENCE), instance))
        warehouse = get_settings().warehouse_file
        clean_sim.reset_stats()
        with monkeypatch.context() as patch:
            patch.setattr(snapshots_module, "_export_part", FAULTS[fault][0])
            with pytest.raises(Exception) as failed:
                materialize_tables(list(BACKFILL), instance)
        assert FAULTS[fault][1] in str(failed.value)
        leftovers = sorted(p.name for p in snapshot_dir(warehouse).glob(f"{TMP_PREFIX}*"))
        assert not leftovers, f"a failed publish left {leftovers}"
        committed = _committed_raw_rows(warehouse)
        assert committed > 0, "the fault came before any raw write committed"

        assert all(r.success for r in materialize_tables(list(BACKFILL), instance))
        calls = resumable_calls(clean_sim)
        sums, raw = checksums(home), raw_checksums(home)
        doubled = _doubled(home)
        partitions = held_partitions(home)
    mismatches = compare(reference, sums) + [f"raw_{a}" for a in compare(reference_raw, raw)]
    report(
        f"publish failed ({fault}) after the raw commit", unpublished_raw_rows=committed,
        upstream_calls=calls,
        partitions=partitions, duplicates=sum(doubled.values()), mismatches=len(mismatches),
    )  # fmt: skip
    assert not any(doubled.values()), f"doubled after the rerun: {doubled}"
    assert not mismatches, f"tables differ from the fault-free run: {mismatches}"
    assert calls == partitions, "a partition was asked twice"
