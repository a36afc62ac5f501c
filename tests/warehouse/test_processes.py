"""Several processes at once: killed writers, queued writers, readers during writes."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.conftest import daily_rows, run_worker, start_worker
from twilight_resources.warehouse import (
    WarehouseBusyError,
    WarehouseReader,
    WarehouseWriter,
    WriteResult,
    publish_snapshot,
)
from twilight_resources.warehouse.locking import lock_path, queue_path, write_lock
from twilight_resources.warehouse.rawfile import raw_path
from twilight_resources.warehouse.snapshots import (
    deferred_path,
    deferred_since,
    publish_deferred,
    read_pointer,
)


def count(warehouse: Path, sql: str) -> int:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def lock_is_held(warehouse: Path) -> bool:
    fd = os.open(lock_path(warehouse), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock if we got it
    return False


@pytest.mark.parametrize(
    ("layer", "delay"), [("normalized", 0.4), ("normalized", 1.5), ("raw", 1.0)]
)
def test_sigkill_mid_write_leaves_no_trace(
    writer: WarehouseWriter, warehouse: Path, layer: str, delay: float
) -> None:
    base = daily_rows(["000001.SZ"], ["20240102"])
    writer.write("normalized_daily", base, ["base"])
    writer.write("raw_daily", base.drop(columns=["source", "raw_id"]), ["base"])
    files = {"main": warehouse, "raw": raw_path(warehouse)}
    tables = {"main": ("normalized_daily",), "raw": ("raw_daily",)}
    before = {
        (name, table): count(files[name], f"SELECT count(*) FROM {table}")
        for name in files
        for table in (*tables[name], "meta_partition_ledger", "meta_counters")
    }
    child = start_worker("big_write", str(warehouse), layer, "1500000")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 60
    while not lock_is_held(warehouse):  # the child is inside the write once it holds the lock
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
        time.sleep(0.01)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "write finished before the kill; grow it"

    after = {(f, t): count(files[f], f"SELECT count(*) FROM {t}") for f, t in before}
    assert after == before
    result = writer.write("normalized_daily", daily_rows(["000002.SZ"], ["20240102"]), ["next"])
    assert result.inserted == 1 and result.table_rows == before["main", "normalized_daily"] + 1


def test_concurrent_runs_both_succeed(warehouse: Path) -> None:
    runs = [
        start_worker("materialize", str(warehouse), partition, "150000")
        for partition in ("20240102", "20240103")
    ]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1]) == {"success": True}
    assert count(warehouse, "SELECT count(*) FROM normalized_daily") == 300_000
    raw = raw_path(warehouse)
    assert count(raw, "SELECT count(DISTINCT raw_id) FROM raw_daily") == 300_000
    assert count(warehouse, "SELECT count(*) FROM meta_partition_latest") == 2
    assert count(raw, "SELECT count(*) FROM meta_partition_latest") == 2


def test_writers_queue_instead_of_failing(writer: WarehouseWriter, warehouse: Path) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    results: list[WriteResult] = []
    with write_lock(warehouse, timeout=5):
        thread = threading.Thread(
            target=lambda: results.append(
                writer.write("normalized_daily", daily_rows(["b"], ["20240102"]))
            )
        )
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive() and not results  # waiting, not failing
        impatient = WarehouseWriter(warehouse, lock_timeout=0.2)
        refused: list[BaseException] = []

        def write_impatiently() -> None:  # another thread: the lock is reentrant in this one
            try:
                impatient.write("normalized_daily", daily_rows(["c"], ["20240102"]))
            except WarehouseBusyError as exc:
                refused.append(exc)

        other = threading.Thread(target=write_impatiently)
        other.start()
        other.join(timeout=30)
        assert len(refused) == 1 and "pid" in str(refused[0])
    thread.join(timeout=30)
    assert results[0].inserted == 1 and results[0].lock_wait_seconds >= 0.4


def test_a_queue_of_writers_publishes_once(writer: WarehouseWriter, warehouse: Path) -> None:
    """The writer ahead leaves the snapshot copy to the one queued behind it: two queued writes
    cost one publish, and the last writer of the queue always publishes."""
    base = writer.write("normalized_daily", daily_rows(["a"], ["20240102"])).snapshot
    assert base is not None
    results: list[WriteResult] = []

    def write(code: str) -> None:
        results.append(writer.write("normalized_daily", daily_rows([code], ["20240102"])))

    with write_lock(warehouse, timeout=5):  # held by a non-writer: both writers queue
        threads = [threading.Thread(target=write, args=(code,)) for code in ("b", "c")]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert all(thread.is_alive() for thread in threads) and not results
    for thread in threads:
        thread.join(timeout=30)
    first, last = results
    assert first.snapshot is None  # deferred: a writer was waiting
    assert last.snapshot is not None and last.snapshot.generation == base.generation + 1
    assert read_pointer(warehouse) == last.snapshot and not deferred_path(warehouse).exists()
    with WarehouseReader(warehouse, read_unpublished=False) as reader:
        assert reader.query("SELECT count(*) AS n FROM normalized_daily")["n"].item() == 3


def test_checks_see_a_deferred_write_and_serving_readers_leave_it(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    """A reader that must see every commit reads a deferred write from the warehouse file,
    publishing nothing; a serving one waits for the writer queued next."""
    count_sql = "SELECT count(*) AS n FROM normalized_daily"
    base = writer.write("normalized_daily", daily_rows(["a"], ["20240102"])).snapshot
    assert base is not None
    waiter = os.open(queue_path(warehouse), os.O_RDWR)
    try:
        fcntl.flock(waiter, fcntl.LOCK_SH)  # as a writer queued for the lock does
        assert writer.write("normalized_daily", daily_rows(["b"], ["20240102"])).snapshot is None
    finally:
        os.close(waiter)  # ... and then gave up
    since = deferred_since(warehouse)
    assert since is not None and (datetime.now(UTC) - since).total_seconds() < 60
    with WarehouseReader(warehouse, read_unpublished=False) as serving:
        assert serving.query(count_sql)["n"].item() == 1
    with WarehouseReader(warehouse, watch_interval=0.02) as watching:
        time.sleep(0.2)
        assert watching.query(count_sql)["n"].item() == 1
    assert read_pointer(warehouse) == base and deferred_path(warehouse).exists()
    with WarehouseReader(warehouse) as check:
        assert check.unpublished()
        with check.held() as source:
            assert source == "warehouse file" and check.query(count_sql)["n"].item() == 2
    assert read_pointer(warehouse) == base and deferred_since(warehouse) == since
    raw = (
        daily_rows(["a"], ["20240102"])
        .drop(columns=["raw_id", "ingested_at", "source"], errors="ignore")
        .astype(str)
    )
    writer.write("raw_daily", raw, ["20240102"])
    with WarehouseReader(warehouse) as check, check.held():  # holds the writer lock ...
        held = writer.raw_partitions("raw_daily")  # ... which this thread may take again
    assert held["partition_key"].tolist() == ["20240102"]
    assert publish_deferred(warehouse) is not None and deferred_since(warehouse) is None
    with WarehouseReader(warehouse) as check:
        assert not check.unpublished()
        with check.held() as source:
            assert source == f"snapshot g{base.generation + 1}"
            assert check.query(count_sql)["n"].item() == 2


def test_foreign_duckdb_lock_is_waited_out(writer: WarehouseWriter, warehouse: Path) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    holder = start_worker("hold_file", str(warehouse), "1.5")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    started = time.monotonic()
    assert writer.write("normalized_daily", daily_rows(["b"], ["20240102"])).inserted == 1
    assert time.monotonic() - started > 0.5
    holder.wait(timeout=30)


def test_reader_process_never_fails_during_writes(
    writer: WarehouseWriter, warehouse: Path, tmp_path: Path
) -> None:
    dates = [f"202402{d:02d}" for d in range(1, 13)]
    codes = [f"{i:06d}.SZ" for i in range(500)]
    writer.write("normalized_daily", daily_rows(codes, dates[:1]), ["p0"])
    stop = tmp_path / "stop"
    reader = start_worker("reader_loop", str(warehouse), str(stop))
    time.sleep(1.5)  # let it get going
    durations = []
    for i, day in enumerate(dates[1:], start=1):
        result = writer.write("normalized_daily", daily_rows(codes, [day]), [f"p{i}"])
        durations.append(result.seconds)
        time.sleep(0.05)
    stop.touch()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err[-2000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["errors"] == 0, report["first_error"]
    assert report["queries"] > 50
    assert report["last"] == 500 * len(dates)  # sees the last publish
    assert len(report["counts"]) > 2  # and intermediate ones on the way
    assert max(durations) < 10


def test_publish_snapshot_folds_a_dead_writers_wal(warehouse: Path) -> None:
    assert run_worker("commit_then_die", str(warehouse)).returncode == 0
    assert Path(f"{warehouse}.wal").exists()
    info = publish_snapshot(warehouse)
    with WarehouseReader(warehouse) as reader:
        assert reader.snapshot_info().generation == info.generation
        assert reader.query("SELECT value FROM meta_counters WHERE name = 'wal_only'")[
            "value"
        ].tolist() == [42]
