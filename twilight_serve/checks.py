"""Asset check results, read from the Dagster instance that ran them.

The instance is the one ``DAGSTER_HOME`` names; without it the server says results are
unavailable rather than guessing. Dagster is imported on first use only, so serving bars never
pays for it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

UNAVAILABLE = "DAGSTER_HOME is not set: asset check results live in the Dagster instance"


class CheckResults:
    """Latest evaluation of every asset check the code location defines."""

    def __init__(self, dagster_home: str | None) -> None:
        self.dagster_home = dagster_home
        self._instance: Any = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return bool(self.dagster_home)

    def _open(self) -> Any:
        from dagster import DagsterInstance

        with self._lock:
            if self._instance is None:
                self._instance = DagsterInstance.from_config(str(self.dagster_home))
            return self._instance

    def latest(self) -> list[dict[str, Any]]:
        from twilight_assets.definitions import defs

        keys = sorted(defs.resolve_asset_graph().asset_check_keys, key=str)
        records = self._open().event_log_storage.get_latest_asset_check_execution_by_key(keys)
        results = []
        for key in keys:
            record = records.get(key)
            evaluation = record.evaluation if record is not None else None
            results.append(
                {
                    "asset": key.asset_key.to_user_string(),
                    "check": key.name,
                    "passed": evaluation.passed if evaluation else None,
                    "severity": evaluation.severity.value if evaluation else None,
                    "run_id": record.run_id if record else None,
                    "evaluated_at": (
                        datetime.fromtimestamp(record.create_timestamp, UTC) if record else None
                    ),
                }
            )
        return results

    def close(self) -> None:
        if self._instance is not None:
            self._instance.dispose()
