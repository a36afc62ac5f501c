"""The upstream call budget, shared by every process that uses the same token.

Tushare counts calls per token, so the budget lives in a SQLite file under the state directory
rather than in a process. Calls are spaced evenly (60 / calls_per_minute seconds apart): that
never exceeds the per-minute window, yet reaches the full rate when several calls are in flight.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

# 1% headroom: calls leave on their slots but reach the upstream with network and scheduling
# jitter; at 0.2% a 1-year backfill still drew a rate-limit answer (and its 10 s backoff) twice.
SPACING_MARGIN = 1.01


def budget_key(token: str) -> str:
    """The budget is keyed by a hash of the token, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class CallBudget:
    """Reserves evenly spaced call slots across processes."""

    def __init__(self, db_path: Path, key: str, calls_per_minute: int) -> None:
        self.db_path, self.key = db_path, key
        self.interval = 60.0 / calls_per_minute * SPACING_MARGIN
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS budget (key TEXT PRIMARY KEY, next_slot REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        # The default rollback journal: BEGIN IMMEDIATE with a busy timeout serializes the
        # reservations of every process, and there is no WAL mode switch to race on.
        return sqlite3.connect(self.db_path, timeout=60, isolation_level=None)

    def reserve(self) -> float:
        """Claim the next free slot and return its time (epoch seconds)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT next_slot FROM budget WHERE key = ?", (self.key,)).fetchone()
            slot = max(time.time(), row[0] if row else 0.0)
            conn.execute(
                "INSERT INTO budget (key, next_slot) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET next_slot = excluded.next_slot",
                (self.key, slot + self.interval),
            )
            conn.execute("COMMIT")
            return slot
        finally:
            conn.close()

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds spent waiting."""
        slot = self.reserve()
        wait = slot - time.time()
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)
