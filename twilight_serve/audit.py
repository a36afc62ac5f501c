"""The audit view of upstream calls: the call journal the Tushare client appends to.

The journal is SQLite next to the call budget (``state/upstream.sqlite``), shared by every
process of a ``TWILIGHT_HOME``; the server only reads it. Spend is counted in HTTP requests
(attempts), which is what the token's budget is charged.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from twilight_resources.tushare.journal import CallJournal
from twilight_serve.models import ApiSpendDay, SpendWindow

WINDOWS = {"last_minute": 60, "last_hour": 3600, "last_day": 86400}


class AuditLog:
    """Recent upstream calls and what they cost."""

    def __init__(self, journal_path: Path) -> None:
        self.journal = CallJournal(journal_path)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        frame = self.journal.recent(limit=limit).drop(columns=["pid"])
        records: list[dict[str, Any]] = frame.to_dict("records", into=dict)
        for record in records:
            record["params"] = json.loads(str(record["params"]))
        return records

    def _last_day(self, now: float) -> pd.DataFrame:
        return self.journal.recent(limit=1_000_000, since=now - max(WINDOWS.values()))

    def spend(self, now: float | None = None) -> list[SpendWindow]:
        now = now or time.time()
        frame = self._last_day(now)
        return [
            SpendWindow(window=window, **_totals(frame[frame["called_at"] >= now - seconds]))
            for window, seconds in WINDOWS.items()
        ]

    def by_api(self, now: float | None = None) -> list[ApiSpendDay]:
        """Per API over the last day, the most refused first."""
        frame = self._last_day(now or time.time())
        rows = [
            ApiSpendDay(api_name=str(api), **_totals(part))
            for api, part in frame.groupby("api_name", sort=True)
        ]
        return sorted(rows, key=lambda r: -r.refusals)


def _totals(part: pd.DataFrame) -> dict[str, Any]:
    return {
        "calls": len(part),
        "requests": int(part["attempts"].sum()),
        "failures": int((part["outcome"] != "ok").sum()),
        "refusals": int(part["refusals"].sum()),
        "paused_s": round(float(part["paused_ms"].sum()) / 1000, 1),
        "rows": int(part["rows"].sum()),
    }
