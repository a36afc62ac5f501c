"""Per-part generations: a publish copies what changed, readers see one generation whole, and
a publish killed at any step leaves readers on a complete generation."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from tests.warehouse.conftest import daily_rows, run_worker
from twilight_resources.warehouse import WarehouseReader, WarehouseWriter, read_pointer
from twilight_resources.warehouse import reader as reader_module
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.locking import write_lock
from twilight_resources.warehouse.snapshots import (
    TMP_PREFIX,
    Manifest,
    deferred_path,
    load_manifest,
    pointer_path,
    pointer_problem,
    publish_locked,
    snapshot_dir,
)

CODES = [f"{i:06d}.SZ" for i in range(20)]
YEARS = ("2021", "2022", "2023")


def _days(year: str) -> list[str]:
    return [f"{year}0{m}1{d}" for m in (1, 6) for d in (2, 5)]


def _inodes(info_path: Path, manifest: Manifest) -> dict[str, int]:
    return {p.file: (info_path / p.file).stat().st_ino for p in manifest.parts}


def _history(writer: WarehouseWriter) -> None:
    writer.write("normalized_stock_basic", pd.DataFrame({"ts_code": CODES, "source": "tushare"}))
    for year in YEARS:
        writer.write("normalized_daily", daily_rows(CODES, _days(year)), [year])


def test_a_one_day_write_exports_only_its_year(writer: WarehouseWriter, warehouse: Path) -> None:
    _history(writer)
    before = read_pointer(warehouse)
    assert before is not None
    old = load_manifest(before.path)
    daily = {p.bucket: p.rows for p in old.parts if p.table == "normalized_daily"}
    assert daily == {2021: 80, 2022: 80, 2023: 80}

    writer.write("normalized_daily", daily_rows(CODES, ["20231229"], seed=1), ["20231229"])
    after = read_pointer(warehouse)
    assert after is not None and after.generation == before.generation + 1
    new = load_manifest(after.path)
    was, now = _inodes(before.path, old), _inodes(after.path, new)
    changed = {name for name in now if now[name] != was.get(name)}
    assert changed == {
        "normalized_daily.y2023.duckdb",
        "meta_partition_ledger.duckdb",
        "meta_counters.duckdb",
    }
    assert now["normalized_daily.y2021.duckdb"] == was["normalized_daily.y2021.duckdb"]
    assert now["normalized_stock_basic.duckdb"] == was["normalized_stock_basic.duckdb"]
    assert new.write_id == old.write_id + 1
    assert {p.bucket: p.rows for p in new.parts if p.table == "normalized_daily"}[2023] == 100
    with WarehouseReader(warehouse) as reader:
        assert reader.query("SELECT count(*) AS n FROM normalized_daily")["n"].item() == 260
        assert reader.query("SELECT count(*) AS n FROM daily_hfq")["n"].item() == 260  # views


def test_a_query_never_mixes_generations(warehouse: Path) -> None:
    """Each transaction adds one bar in 2023 and one in 2024 (two parts) and their factors (a
    third and fourth): a query over all four sees them move together while publishes run."""
    writer = WarehouseWriter(warehouse, threads=1)
    writer.write("normalized_daily", daily_rows(["seed"], ["20230102", "20240102"]))
    stop = threading.Event()
    failures: list[BaseException] = []

    def write_loop() -> None:
        n = 0
        try:
            while not stop.is_set() and n < 300:
                n += 1
                code = f"{n:06d}.SH"
                with writer.transaction(("normalized_daily", "normalized_adj_factor")) as conn:
                    for day in ("2023-03-01", "2024-03-01"):
                        conn.execute(
                            "INSERT INTO normalized_daily (ts_code, trade_date, close) "
                            "VALUES (?, ?, 1.0)",
                            [code, day],
                        )
                        conn.execute(
                            "INSERT INTO normalized_adj_factor (ts_code, trade_date, adj_factor) "
                            "VALUES (?, ?, 1.0)",
                            [code, day],
                        )
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    sql = (
        "SELECT (SELECT count(*) FROM normalized_daily WHERE year(trade_date) = 2023) AS d23, "
        "(SELECT count(*) FROM normalized_daily WHERE year(trade_date) = 2024) AS d24, "
        "(SELECT count(*) FROM normalized_adj_factor WHERE year(trade_date) = 2023) AS a23, "
        "(SELECT count(*) FROM daily_hfq WHERE adj_factor IS NOT NULL "
        "AND year(trade_date) = 2024) AS a24"
    )
    thread = threading.Thread(target=write_loop)
    seen: set[int] = set()
    with WarehouseReader(warehouse, watch_interval=0.005) as watching:
        with WarehouseReader(warehouse, read_unpublished=False) as looking:
            thread.start()
            try:
                while thread.is_alive() and len(seen) < 40:
                    for reader in (watching, looking):
                        (row,) = reader.records(sql)
                        assert row["d23"] == row["d24"] == row["a23"] + 1 == row["a24"] + 1
                        seen.add(reader.snapshot_info().generation)
            finally:
                stop.set()
                thread.join()
    assert not failures, failures
    assert len(seen) >= 10, f"only {len(seen)} generations seen"


def test_a_generation_removed_while_attaching_is_not_half_served(
    writer: WarehouseWriter, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.write("normalized_daily", daily_rows(["a"], ["20230102"]))
    doomed = read_pointer(warehouse)
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    real_load = reader_module.load_manifest
    answers = iter([doomed])

    def pointer(path: Path) -> object:
        return next(answers, None) or read_pointer(path)

    def load_then_remove(directory: Path) -> Manifest:
        manifest = real_load(directory)
        if doomed is not None and directory == doomed.path:
            shutil.rmtree(directory)  # removed by a publish after its manifest was read
        return manifest

    monkeypatch.setattr(reader_module, "read_pointer", pointer)
    monkeypatch.setattr(reader_module, "load_manifest", load_then_remove)
    with WarehouseReader(warehouse) as reader:
        assert reader.query("SELECT count(*) AS n FROM normalized_daily")["n"].item() == 2
        assert doomed is not None and reader.snapshot_info().generation == doomed.generation + 1


STEPS = ("part:1", "part:3", "manifest", "pointer", "clear", "collect")


@pytest.mark.parametrize("step", STEPS)
def test_a_publish_killed_at_any_step_leaves_a_complete_generation(
    step: str, warehouse: Path
) -> None:
    _history(WarehouseWriter(warehouse, threads=1))
    held = read_pointer(warehouse)
    assert held is not None
    # Committed, not yet published: the dirty marks say what the snapshot lacks.
    WarehouseWriter(warehouse, publish=False).write(
        "normalized_daily", daily_rows(CODES, ["20220701", "20230701"]), ["late"]
    )
    done = run_worker("publish_killed_at", str(warehouse), step)
    assert done.returncode == -9 and "published" not in done.stdout, done.stderr

    with WarehouseReader(warehouse) as reader:
        count = reader.query("SELECT count(*) AS n FROM normalized_daily")["n"].item()
        generation = reader.snapshot_info().generation
    if step in ("clear", "collect"):  # the pointer was replaced: readers are on the new one
        assert (generation, count) == (held.generation + 1, 280)
    else:  # readers stay on the last complete generation
        assert (generation, count) == (held.generation, 240)

    with write_lock(warehouse, 60.0, writer=True):  # the next publish completes
        conn = connect(warehouse)
        try:
            info = publish_locked(warehouse, conn)
        finally:
            conn.close()
    assert not list(snapshot_dir(warehouse).glob(f"{TMP_PREFIX}*"))
    assert len(list(snapshot_dir(warehouse).glob("warehouse-g*"))) == 2
    exported = {p.bucket for p in load_manifest(info.path).parts if p.table == "normalized_daily"}
    assert exported == {2021, 2022, 2023}
    with WarehouseReader(warehouse) as reader:
        assert reader.snapshot_info().generation == info.generation
        assert reader.query("SELECT count(*) AS n FROM normalized_daily")["n"].item() == 280
        per_year = reader.query(
            "SELECT year(trade_date) AS y, count(*) AS n FROM normalized_daily "
            "GROUP BY y ORDER BY y"
        )
        assert per_year["n"].tolist() == [80, 100, 100]


def test_a_raw_write_publishes_nothing(writer: WarehouseWriter, warehouse: Path) -> None:
    """The raw layer lives in its own file, which no snapshot holds: a raw write leaves the
    generation as it was, and the normalized write after it publishes the next one."""
    base = writer.write("normalized_daily", daily_rows(["a"], ["20240102"])).snapshot
    raw = pd.DataFrame(
        {"ts_code": ["a"], "trade_date": ["20240103"], "close": ["1.5"], "request_params": "{}"}
    )
    fetched = writer.write("raw_daily", raw, ["20240103"])
    assert fetched.snapshot is None and not deferred_path(warehouse).exists()
    assert base is not None and read_pointer(warehouse) == base
    written = writer.write("normalized_daily", daily_rows(["a"], ["20240103"]), ["20240103"])
    assert written.snapshot is not None
    assert written.snapshot.generation == base.generation + 1
    assert writer.raw_partitions("raw_daily")["partition_key"].tolist() == ["20240103"]
    with WarehouseReader(warehouse, read_unpublished=False) as reader:
        assert "raw_daily" not in set(reader.query("SHOW TABLES")["name"])


def test_a_table_whose_columns_changed_is_exported_whole(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    _history(writer)
    before = read_pointer(warehouse)
    assert before is not None
    with writer.transaction(()) as conn:  # marks no part dirty: the new column alone must tell
        conn.execute("ALTER TABLE normalized_daily ADD COLUMN note VARCHAR")
    after = read_pointer(warehouse)
    assert after is not None
    was = _inodes(before.path, load_manifest(before.path))
    now = _inodes(after.path, load_manifest(after.path))
    daily = [name for name in now if name.startswith("normalized_daily.")]
    assert len(daily) == 3 and all(now[name] != was[name] for name in daily)
    assert now["normalized_stock_basic.duckdb"] == was["normalized_stock_basic.duckdb"]
    with WarehouseReader(warehouse) as reader:
        assert reader.query("SELECT count(note) AS n FROM normalized_daily")["n"].item() == 0


def test_a_pointer_of_an_earlier_version_says_how_to_move_on(
    writer: WarehouseWriter, warehouse: Path
) -> None:
    """An upgraded install's pointer names one snapshot file: readers are told what publishes
    this version's generations, and the next write does."""
    writer.write("normalized_daily", daily_rows(["a"], ["20240102"]))
    pointer_path(warehouse).write_text(
        '{"file": "warehouse-g00000007.duckdb", "generation": 7, '
        '"published_at": "2026-01-05T10:00:00+00:00", "size_bytes": 1}'
    )
    assert "twilight publish" in (pointer_problem(warehouse) or "")
    writer.write("normalized_daily", daily_rows(["a"], ["20240103"]), ["20240103"])
    assert pointer_problem(warehouse) is None
