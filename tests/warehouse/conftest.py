"""Shared fixtures: real Tushare data beside the repo, and warehouses on tmp paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHARED_FIXTURES as FIXTURES
from twilight_resources.warehouse import WarehouseWriter

REPO = Path(__file__).resolve().parents[2]
# Columns the author of the index_weight fixture added (SOURCES.md); not Tushare fields.
NON_TUSHARE_COLUMNS = {"index_weight": {"prev", "pct_chg"}}


def fixture_csvs() -> list[Path]:
    return sorted(FIXTURES.glob("*/*.csv"))


def read_raw_csv(path: Path) -> pd.DataFrame:
    """A fixture as the upstream text it was: every value a string, empty cells as ''."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def daily_rows(
    codes: list[str], dates: list[str], *, seed: int = 0, source: str = "tushare"
) -> pd.DataFrame:
    """Typed normalized_daily rows (what normalize_frame would hand the writer)."""
    rng = np.random.default_rng(seed)
    n = len(codes) * len(dates)
    frame = pd.DataFrame(
        {
            "ts_code": np.repeat(codes, len(dates)),
            "trade_date": pd.to_datetime(np.tile(dates, len(codes)), format="%Y%m%d"),
        }
    )
    for column in ("open", "high", "low", "close", "pre_close", "change", "pct_chg"):
        frame[column] = rng.uniform(1, 100, n).round(2)
    frame["vol"] = rng.uniform(1e3, 1e6, n).round(2)
    frame["amount"] = rng.uniform(1e3, 1e7, n).round(3)
    frame["source"] = source
    frame["raw_id"] = None
    return frame


def run_worker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``tests.warehouse.workers`` in a fresh interpreter (a separate DuckDB process)."""
    return subprocess.run(
        [sys.executable, "-m", "tests.warehouse.workers", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def start_worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.warehouse.workers", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


@pytest.fixture
def writer(warehouse: Path) -> WarehouseWriter:
    return WarehouseWriter(warehouse, memory_limit="512MB", threads=1, lock_timeout=60)
