"""A snapshot pointer that is corrupt, missing or names a path outside its folder heals.

Readers (the serving one watching it, the resume check of the next backfill, the calendar
check of ``twilight backfill``) fall back to the newest complete snapshot and log the problem
once; the next write publishes a good pointer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import instance_for_test

from tests.reliability.harness import REFERENCE, platform, platform_env
from twilight_assets.runner import materialize_tables
from twilight_resources.calendar import from_key, load_calendar
from twilight_resources.settings import get_settings
from twilight_resources.warehouse import WarehouseReader, read_pointer
from twilight_resources.warehouse.snapshots import pointer_path, snapshot_dir
from twilight_sim.server import SimServer

START, END = "20240603", "20240605"  # three trade dates of daily after the fault
ESCAPING = {
    "dir": "../../state/tokens.sqlite", "generation": 99,
    "published_at": "2024-06-03T00:00:00+00:00", "size_bytes": 8192,
}  # fmt: skip
FAULTS: dict[str, Callable[[Path], None]] = {
    "corrupt": lambda pointer: pointer.write_text("{garbage", encoding="utf-8"),
    "missing": lambda pointer: pointer.unlink(),
    "escaping": lambda pointer: pointer.write_text(json.dumps(ESCAPING), encoding="utf-8"),
}


def _sqlite_file(path: Path) -> None:
    """A SQLite file where the escaping pointer leads (DuckDB would want an extension for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS tokens (hash TEXT)")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_bad_pointer_falls_back_then_heals(
    fault: str, clean_sim: SimServer, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with platform(platform_env(home, clean_sim.url)), instance_for_test() as instance:
        assert all(r.success for r in materialize_tables(list(REFERENCE), instance))
        settings = get_settings()
        warehouse = settings.warehouse_file
        good = read_pointer(warehouse)
        assert good is not None
        _sqlite_file(home / "state" / "tokens.sqlite")
        FAULTS[fault](pointer_path(warehouse))
        caplog.set_level(logging.WARNING, logger="twilight_resources")

        # A serving reader looks at the pointer every 20 ms for half a second.
        started = time.monotonic()
        with WarehouseReader(warehouse, watch_interval=0.02) as reader:
            days = reader.query("SELECT count(*) AS n FROM normalized_trade_cal")["n"].iloc[0]
            assert reader.snapshot_info().path == good.path
            time.sleep(0.5)
        assert days > 0
        assert time.monotonic() - started < 5, "the reader stalled on the bad pointer"
        warnings = [r for r in caplog.records if "snapshot pointer" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert "reading the newest complete snapshot" in warnings[0].getMessage()
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
        # What `twilight backfill` checks first.
        assert load_calendar(settings).covers(from_key(END))

        clean_sim.reset_stats()
        results = materialize_tables(["daily"], instance, start=START, end=END)
        assert all(r.success for r in results)
        assert clean_sim.stats().get("daily") == 3, "calls != partitions"
        doc = json.loads(pointer_path(warehouse).read_text(encoding="utf-8"))
        healed = read_pointer(warehouse)
        assert healed is not None and healed.generation > good.generation
        assert (snapshot_dir(warehouse) / doc["dir"]).resolve() == healed.path.resolve()
        assert healed.path.parent == snapshot_dir(warehouse)
