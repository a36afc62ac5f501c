"""The backfill the chaos test kills: ``python -m tests.reliability.backfill`` (exit 0 on success).

Runs in its own process on the persistent instance under ``$DAGSTER_HOME``, so the dynamic
partitions and runs of a killed attempt are there for the next one, as in production.
"""

from __future__ import annotations

import sys

from dagster import DagsterInstance

from tests.reliability.harness import run_backfill


def main() -> int:
    with DagsterInstance.get() as instance:
        return 0 if all(run_backfill(instance)) else 1


if __name__ == "__main__":
    sys.exit(main())
