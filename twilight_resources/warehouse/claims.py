"""Partition claims: which run is fetching which partitions, so that overlapping backfills never
ask the upstream for a partition twice.

Dagster's pools cap how many steps run at once, not which partitions they cover, and a run
killed with SIGKILL keeps its pool slots until someone terminates it (see dagster.yaml). So a
raw asset claims the partitions it is about to fetch in a small SQLite file beside the warehouse
(``<warehouse>.claims.sqlite``), all of them or none in one transaction: if a live run of
another owner holds any, it claims nothing, waits, and looks again at what the warehouse holds
by then (the other run's raw write releases its claims). Holding nothing while waiting means two
runs can never each hold what the other waits for.

A claim whose owner died is stale and taken over: on the same host when its pid is gone or now
belongs to a younger process (pids are reused); from another host (a container of the same
deployment) once it is older than :data:`STALE_AFTER_S`, as its pid cannot be checked there.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

# A claim from another host is taken over after this long (liveness cannot be checked there).
STALE_AFTER_S = 6 * 3600.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS claims (table_name TEXT NOT NULL, partition_key TEXT NOT NULL, "
    "run_id TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, started INTEGER, "
    "claimed_at REAL NOT NULL, PRIMARY KEY (table_name, partition_key))"
)


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell a reused pid apart; None if gone
    or unknown (no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True)
class Owner:
    """A run's step process fetching partitions."""

    run_id: str
    pid: int
    host: str
    started: int | None

    @classmethod
    def current(cls, run_id: str) -> Owner:
        return cls(run_id, os.getpid(), socket.gethostname(), _start_time(os.getpid()))

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host})"


def _alive(owner: Owner, claimed_at: float, now: float) -> bool:
    if owner.host != socket.gethostname():
        return now - claimed_at < STALE_AFTER_S
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    return owner.started is None or _start_time(owner.pid) in (None, owner.started)


def claims_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".claims.sqlite")


class PartitionClaims:
    """Claims on the partitions of one warehouse's tables."""

    def __init__(self, warehouse: Path | str, *, timeout: float = 60.0) -> None:
        self.path = claims_path(Path(warehouse))
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        return conn

    def claim(self, table: str, keys: Sequence[str], owner: Owner) -> dict[str, Owner]:
        """Claim every one of ``keys`` for ``owner``, or none of them.

        Returns the live other owners of the keys that are held (empty: all are claimed now).
        """
        if not keys:
            return {}
        now = time.time()
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(
                    "SELECT partition_key, run_id, pid, host, started, claimed_at FROM claims "
                    "WHERE table_name = ? AND partition_key IN (SELECT value FROM json_each(?))",
                    [table, json.dumps(list(keys))],
                ).fetchall()
                held = {}
                for key, run_id, pid, host, started, claimed_at in rows:
                    other = Owner(run_id, pid, host, started)
                    if (other.run_id, other.pid) != (owner.run_id, owner.pid) and _alive(
                        other, claimed_at, now
                    ):
                        held[key] = other
                if not held:
                    conn.executemany(
                        "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(table, k, owner.run_id, owner.pid, owner.host, owner.started, now)
                         for k in keys],
                    )  # fmt: skip
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return held

    def release(self, table: str, owner: Owner) -> int:
        """Drop ``owner``'s claims on ``table`` (after its write, or when it failed)."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as conn:
            return conn.execute(
                "DELETE FROM claims WHERE table_name = ? AND run_id = ? AND pid = ?",
                [table, owner.run_id, owner.pid],
            ).rowcount
