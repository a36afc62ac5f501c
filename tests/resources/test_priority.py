"""Dagster steps fetch at the fetching niceness and touch the warehouse at the batch niceness."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from twilight_resources.priority import AUTOGROUP
from twilight_resources.processes import BATCH_SESSION_NICENESS, spawn_session

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
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    lines = [line.split() for line in out.stdout.splitlines()]
    seen = {w[0]: int(w[1]) for w in lines if w[:1] in (["before"], ["during"], ["after"])}
    assert seen["before"] < 14  # pytest runs at 0, or at a step's niceness after a run
    assert seen["during"] == 14  # the asset's body: it may be fetching
    assert seen["after"] == 19  # its output was written to the warehouse


def test_lower_priority_never_raises_priority() -> None:
    code = (
        "import os; from twilight_resources.priority import lower_priority; "
        "base = os.nice(0); print(base, lower_priority(max(base - 1, 0)), "
        "lower_priority(base + 3))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    base, kept, raised = map(int, out.stdout.split())
    assert base <= 16  # pytest runs at 0, or at the default batch niceness after a run
    assert (kept, raised) == (base, base + 3)


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="the kernel does not group by session")
def test_a_batch_session_yields_as_a_group() -> None:
    """A session started for batch work gets the batch session niceness as a whole (the
    kernel shares the CPU between sessions before niceness counts); others keep theirs."""

    def session_of(niceness: int) -> tuple[str, int]:
        proc = spawn_session(
            ["cat", "/proc/self/autogroup", "/proc/self/stat"],
            stdout=subprocess.PIPE,
            text=True,
            niceness=niceness,
        )
        out, _ = proc.communicate(timeout=30)
        group, stat = out.splitlines()[0], out.splitlines()[1]
        return group, int(stat.rsplit(")", 1)[1].split()[16])  # field 19: the niceness

    # A process that never left init's session sits in the root group, whose file is empty.
    mine = (AUTOGROUP.read_text().split() or ["/"])[0]
    base = os.nice(0)  # pytest may run niced already
    batch_group, batch_nice = session_of(7)
    plain_group, plain_nice = session_of(0)
    assert batch_group.startswith("/autogroup-") and batch_group.split()[0] != mine
    assert batch_group.endswith(f"nice {BATCH_SESSION_NICENESS}") and batch_nice == max(7, base)
    assert plain_group.endswith("nice 0") and plain_nice == base
