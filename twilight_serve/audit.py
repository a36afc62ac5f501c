"""The audit view of upstream calls: the call journal the Tushare client appends to.

The journal is SQLite next to the call budget (``state/upstream.sqlite``), shared by every
process of a ``TWILIGHT_HOME``; the server only reads it. Spend is counted in HTTP requests
(attempts), which is what the token's budget is charged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from twilight_resources.tushare.journal import CallJournal

WINDOWS = {"last_minute": 60, "last_hour": 3600, "last_day": 86400}


@dataclass(frozen=True)
class Spend:
    window: str
    calls: int
    requests: int
    rows: int
    failures: int


class AuditLog:
    """Recent upstream calls and what they cost."""

    def __init__(self, journal_path: Path) -> None:
        self.journal = CallJournal(journal_path)

    def recent(self, limit: int) -> list[dict[str, object]]:
        records = self.journal.recent(limit=limit).drop(columns=["pid"]).to_dict("records")
        for record in records:
            record["params"] = json.loads(str(record["params"]))
        return records

    def spend(self, now: float | None = None) -> list[Spend]:
        now = now or time.time()
        frame = self.journal.recent(limit=1_000_000, since=now - max(WINDOWS.values()))
        result = []
        for window, seconds in WINDOWS.items():
            part = frame[frame["called_at"] >= now - seconds]
            result.append(
                Spend(
                    window=window,
                    calls=len(part),
                    requests=int(part["attempts"].sum()),
                    rows=int(part["rows"].sum()),
                    failures=int((part["outcome"] != "ok").sum()),
                )
            )
        return result
