"""The upstream call journal: one row per logical call (after paging and retries).

It lives next to the budget in SQLite so every process can append while the DuckDB warehouse
stays single-writer; the read API's audit view and the spend figures read it. No token is stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    called_at REAL NOT NULL,
    api_name TEXT NOT NULL,
    params TEXT NOT NULL,
    rows INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    pid INTEGER NOT NULL,
    refusals INTEGER NOT NULL DEFAULT 0,
    paused_ms REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (called_at);
"""
ADDED_COLUMNS = {
    "refusals": "INTEGER NOT NULL DEFAULT 0",
    "paused_ms": "REAL NOT NULL DEFAULT 0",
}


@dataclass(frozen=True)
class CallRecord:
    """What one call cost and returned; ``attempts`` counts every HTTP request it made."""

    api_name: str
    params: dict[str, object]
    rows: int
    pages: int
    attempts: int
    latency_ms: float
    outcome: str
    error: str | None = None
    refusals: int = 0  # rate refusals on the way (each retried after the token's pause)
    paused_ms: float = 0.0  # time spent waiting for the token's pauses


class CallJournal:
    """Append-only call log shared across processes."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            # WAL lets the audit views read while steps append; the switch is made once, by
            # whichever process gets there first, and is persistent.
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                conn.executescript(SCHEMA)
                have = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
                for column, ddl in ADDED_COLUMNS.items():
                    if column not in have:  # a journal written before the column existed
                        conn.execute(f"ALTER TABLE calls ADD COLUMN {column} {ddl}")
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=60)

    def record(self, call: CallRecord) -> None:
        row = asdict(call)
        row["params"] = json.dumps(call.params, sort_keys=True, ensure_ascii=False)
        conn = self._connect()
        try:
            with conn:
                conn.execute(
                    "INSERT INTO calls (called_at, api_name, params, rows, pages, attempts, "
                    "latency_ms, outcome, error, pid, refusals, paused_ms) VALUES (:called_at, "
                    ":api_name, :params, :rows, :pages, :attempts, :latency_ms, :outcome, "
                    ":error, :pid, :refusals, :paused_ms)",
                    {**row, "called_at": time.time(), "pid": os.getpid()},
                )
        finally:
            conn.close()

    def count(self, since: float, apis: Sequence[str]) -> int:
        """Calls of ``apis`` recorded since ``since`` (epoch seconds), by every process."""
        marks = ", ".join("?" * len(apis))
        conn = self._connect()
        try:
            (count,) = conn.execute(
                f"SELECT count(*) FROM calls WHERE called_at >= ? AND api_name IN ({marks})",
                (since, *apis),
            ).fetchone()
            return int(count)
        finally:
            conn.close()

    def recent(self, limit: int = 100, since: float | None = None) -> pd.DataFrame:
        conn = self._connect()
        try:
            return pd.read_sql_query(
                "SELECT * FROM calls WHERE called_at >= ? ORDER BY called_at DESC LIMIT ?",
                conn,
                params=(since or 0.0, limit),
            )
        finally:
            conn.close()
