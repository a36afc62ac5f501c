"""Dagster steps fetch at the fetching niceness and touch the warehouse at the batch niceness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import os
import pandas as pd
from dagster import asset, materialize
from twilight_resources.warehouse import DuckDBWarehouseIOManager

@asset(key=["raw", "trade_cal"])
def probe() -> pd.DataFrame:
    print("during", os.nice(0))
    return pd.DataFrame()

print("before", os.nice(0))
materialize([probe], resources={"io_manager": DuckDBWarehouseIOManager()})
print("after", os.nice(0))
"""


def test_steps_fetch_then_write_at_their_niceness(
    twilight_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIGHT_FETCH_NICENESS", "14")
    monkeypatch.setenv("TWILIGHT_BATCH_NICENESS", "19")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=120)
    lines = [line.split() for line in out.stdout.splitlines()]
    seen = {w[0]: int(w[1]) for w in lines if w[:1] in (["before"], ["during"], ["after"])}
    assert seen["before"] < 14  # pytest runs at 0, or at a step's niceness after a run
    assert seen["during"] == 14  # the asset's body: it may be fetching
    assert seen["after"] == 19  # its output was written to the warehouse


def test_lower_priority_never_raises_priority() -> None:
    code = ("import os; from twilight_resources.priority import lower_priority; "
            "base = os.nice(0); print(base, lower_priority(max(base - 1, 0)), "
            "lower_priority(base + 3))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    base, kept, raised = map(int, out.stdout.split())
    assert base <= 16  # pytest runs at 0, or at the default batch niceness after a run
    assert (kept, raised) == (base, base + 3)
