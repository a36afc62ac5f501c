"""The code location loads, both in-process and through Dagster's own CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import Definitions


def test_definitions_load_in_process() -> None:
    from twilight_assets.definitions import defs

    assert isinstance(defs, Definitions)
    defs.resolve_all_job_defs()


def test_dagster_cli_validates_definitions(twilight_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "twilight_assets.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
