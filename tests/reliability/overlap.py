"""One of two overlapping backfills: ``python -m tests.reliability.overlap START END`` materializes
daily over [START, END] on the instance under ``$DAGSTER_HOME`` (``reference`` loads the
reference tables); exit 0 on success."""

from __future__ import annotations

import sys

from dagster import DagsterInstance

from tests.reliability.harness import REFERENCE
from twilight_assets.runner import materialize_tables


def main(argv: list[str]) -> int:
    with DagsterInstance.get() as instance:
        if argv == ["reference"]:
            results = materialize_tables(list(REFERENCE), instance)
        else:
            start, end = argv
            results = materialize_tables(["daily"], instance, start=start, end=end)
    return 0 if results and all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
