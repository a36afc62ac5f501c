"""The Dagster instance of a TWILIGHT_HOME: ``$TWILIGHT_HOME/dagster`` unless DAGSTER_HOME is set.

Every ``twilight`` command prepares it and exports DAGSTER_HOME, so the Dagster processes it
starts (chunk runs, ``dagster dev``, ``twilight dagster ...``) and the read API's check results
all use the instance that holds the calendar's dynamic partitions.
"""

from __future__ import annotations

import os
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from twilight_resources.settings import TwilightSettings

# The embedded default instance config (SQLite), shipped as package data.
DAGSTER_YAML: Traversable = files("twilight_app") / "dagster.yaml"


def prepare_dagster_home(settings: TwilightSettings) -> Path:
    """Create the instance directory (with the embedded dagster.yaml) and export DAGSTER_HOME."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_bytes(DAGSTER_YAML.read_bytes())
    os.environ["DAGSTER_HOME"] = str(home)
    # dagster dev creates backfill runs without importing the code location: see definitions.py.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    return home
