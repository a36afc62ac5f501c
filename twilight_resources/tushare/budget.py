"""The upstream call budget: per token and API, shared by every thread and process of the token.

Tushare counts calls per token and API, so the budget lives in a SQLite file under the state
directory rather than in a process. Calls of one API are spaced evenly (60 / rate seconds apart):
that never exceeds the per-minute window, yet reaches the full rate with several calls in flight.
The upstream counts a call at some moment between its send and its answer, so spacing alone
does not hold when a call is counted late (a slow network, a loaded server): a call is also
never sent sooner than a window after the answer of the call ``limit`` calls before it. Any
``limit + 1`` calls then span a whole window on the upstream's clock, whatever the delays.

Real tokens are refused below their stated rate at times, for about a minute, and calling on
during that minute only prolongs it. So a refusal pauses the whole token (every API, thread and
process) for ``pause_seconds``, and the refused API resumes below the rate it was refused at
(multiplicative decrease from the calls granted in the minute before the refused one). It holds
that rate, which is known to pass, for ``probe_after_s`` and then climbs back slowly (additive
increase) towards the stated limit. A refusal below the stated limit says the token is granted
only part of it now, so the other APIs of the token are held to the same share of theirs (one
refusal teaches every API, instead of a minute's pause each). What was learnt is kept with the
budget, so the next run of the same token starts from it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from twilight_resources.tushare.limits import ApiLimits

# 1% headroom: calls leave on their slots but reach the upstream with network and scheduling
# jitter; at 0.2% a 1-year backfill still drew a rate-limit answer (and its backoff) twice.
SPACING_MARGIN = 1.01
DECREASE = 0.95  # of the rate granted in the minute before a refusal
MIN_RATE = 1.0  # calls per minute; a budget never stops for good
PROBE_AFTER_S = 600.0  # hold the rate that passes this long before probing above it
INCREASE_PER_MIN = 0.02  # of the API's limit, per minute of probing
WINDOW_S = 60.0
ANSWER_POLL_S = 0.05  # how often a call waiting for an earlier call's answer looks again
UNLEARNT = 1e12  # the stored rate of an API never refused: capped by its limit when read

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_budget (
    key TEXT PRIMARY KEY,        -- token hash / api name
    next_slot REAL NOT NULL,
    rate REAL NOT NULL,          -- calls per minute granted now
    probe_from REAL NOT NULL     -- when the rate may start to climb again
);
CREATE TABLE IF NOT EXISTS token_pause (
    key TEXT PRIMARY KEY,        -- token hash
    until REAL NOT NULL,
    refusals INTEGER NOT NULL,
    api_name TEXT NOT NULL,      -- the API refused last
    paused_s REAL NOT NULL,      -- wall seconds the token has been paused in all
    share REAL NOT NULL,         -- of each API's stated limit the token is granted now
    share_probe_from REAL NOT NULL,
    last_cut REAL NOT NULL       -- when a refusal last cut a rate
);
CREATE TABLE IF NOT EXISTS grants (key TEXT NOT NULL, at REAL NOT NULL, done REAL);
CREATE INDEX IF NOT EXISTS grants_by_key ON grants (key, at);
"""


def budget_key(token: str) -> str:
    """The budget is keyed by a hash of the token, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Slot:
    """A granted call slot: when it is, and how long the caller waited for pauses."""

    at: float
    paused_s: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """What a recorded refusal did to the budget."""

    paused_until: float
    rate: float  # the refused API's rate from now on
    decreased: bool  # False: part of a refusal already answered (calls in flight with it)


class CallBudget:
    """Reserves evenly spaced call slots per API across processes; pauses the token on refusals."""

    def __init__(
        self,
        db_path: Path,
        key: str,
        limits: ApiLimits | int,
        *,
        pause_seconds: float = 60.0,
        probe_after_s: float = PROBE_AFTER_S,
        window_s: float = WINDOW_S,
    ) -> None:
        self.db_path, self.key = db_path, key
        self.limits = limits if isinstance(limits, ApiLimits) else ApiLimits(limits)
        self.pause_seconds, self.probe_after_s = pause_seconds, probe_after_s
        self.window_s = window_s  # the upstream's counting window: Tushare's is a minute
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(grants)")}
            if "done" not in columns:  # a budget file from before answers were recorded
                conn.execute("ALTER TABLE grants ADD COLUMN done REAL")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # The default rollback journal: BEGIN IMMEDIATE with a busy timeout serializes the
        # reservations of every process, and there is no WAL mode switch to race on.
        conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _api_key(self, api_name: str) -> str:
        return f"{self.key}/{api_name}"

    def _state(self, conn: sqlite3.Connection, api_name: str, now: float) -> tuple[float, float]:
        """(next_slot, rate) of an API: its own rate and the token's share, each climbed back
        for the time since it was cut, within the API's limit."""
        limit = float(self.limits.per_minute(api_name))
        row = conn.execute(
            "SELECT next_slot, rate, probe_from FROM api_budget WHERE key = ?",
            (self._api_key(api_name),),
        ).fetchone()
        token = conn.execute(
            "SELECT share, share_probe_from FROM token_pause WHERE key = ?", (self.key,)
        ).fetchone()
        share = 1.0 if token is None else _climbed(token[0], 1.0, token[1], now)
        if row is None:
            return 0.0, limit * share
        next_slot, rate, probe_from = row
        return next_slot, min(_climbed(rate, limit, probe_from, now), limit * share)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def paused_until(self) -> float:
        with self._read() as conn:
            row = conn.execute(
                "SELECT until FROM token_pause WHERE key = ?", (self.key,)
            ).fetchone()
        return row[0] if row else 0.0

    def rate(self, api_name: str) -> float:
        """The calls per minute ``api_name`` is granted now."""
        with self._read() as conn:
            return self._state(conn, api_name, time.time())[1]

    def reserve(self, api_name: str = "*") -> Slot:
        """Claim the next slot of ``api_name``: its time and how much of the wait is a pause."""
        now = time.time()
        key = self._api_key(api_name)
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT until FROM token_pause WHERE key = ?", (self.key,)
            ).fetchone()
            pause = row[0] if row else 0.0
            next_slot, rate = self._state(conn, api_name, now)
            slot = max(now, next_slot, pause)
            conn.execute(  # an API never refused runs at its limit, whatever the limit is
                "INSERT INTO api_budget (key, next_slot, rate, probe_from) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET next_slot = excluded.next_slot",
                (key, slot + 60.0 / rate * SPACING_MARGIN, UNLEARNT, now),
            )
            conn.execute("INSERT INTO grants (key, at) VALUES (?, ?)", (key, slot))
            # Kept two windows: a slow call's answer may come a while after its slot.
            conn.execute(
                "DELETE FROM grants WHERE key = ? AND at < ?", (key, now - 2 * self.window_s)
            )
        return Slot(slot, paused_s=max(0.0, min(slot, pause) - now))

    def _clear_from(self, api_name: str, slot: float) -> float:
        """When the call of ``slot`` may be sent: a window after the answer of the call a
        window's worth of calls before it, at the API's stated limit (now plus a poll step
        while that one is in flight; its slot if it stays unanswered for a window, as when
        its caller died). A rate lowered after a refusal is kept by the spacing and the pause:
        counted against the calls made before the cut, it would stall the API for a window."""
        now = time.time()
        calls = max(1, int(self.limits.per_minute(api_name) * self.window_s / 60.0))
        with self._read() as conn:
            row = conn.execute(
                "SELECT at, done FROM grants WHERE key = ? AND at < ? ORDER BY at DESC "
                "LIMIT 1 OFFSET ?",
                (self._api_key(api_name), slot, calls - 1),
            ).fetchone()
        if row is None:
            return 0.0
        at, done = row
        if done is None:
            return now + ANSWER_POLL_S if at > now - self.window_s else at + self.window_s
        return float(done) + self.window_s

    def answered(self, api_name: str, slot: float) -> None:
        """Record that the call made at ``slot`` has its answer (or failed): the upstream has
        counted it by now, if it counts it at all."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE grants SET done = ? WHERE key = ? AND at = ?",
                (time.time(), self._api_key(api_name), slot),
            )

    def acquire(self, api_name: str = "*", sleep: Callable[[float], None] = time.sleep) -> Slot:
        """Wait for a slot of ``api_name``; a pause recorded while waiting is waited out too.

        No slot is spent on a call that is sure to be refused: after the wait the pause is read
        again, and a call whose slot fell inside a pause another caller recorded meanwhile
        takes a new slot after it. A call whose window would still hold an earlier call by that
        one's answer waits until it does not.
        """
        paused = 0.0
        while True:
            slot = self.reserve(api_name)
            paused += slot.paused_s
            if slot.at > time.time():
                sleep(slot.at - time.time())
            if self.paused_until() <= slot.at:
                break
        while (clear := self._clear_from(api_name, slot.at)) > time.time():
            sleep(clear - time.time())
        return Slot(slot.at, paused)

    def refused(self, api_name: str, slot: float) -> Refusal:
        """Record a rate refusal of the call made at ``slot``: pause the token, slow the API.

        Calls already in flight with the first refused one are refused too; their refusals
        extend the pause but do not cut the rate again (their slots predate the cut).
        """
        now = time.time()
        key = self._api_key(api_name)
        until = now + self.pause_seconds
        with self._transaction() as conn:
            token = conn.execute(
                "SELECT until, share, share_probe_from, last_cut FROM token_pause WHERE key = ?",
                (self.key,),
            ).fetchone()
            was_until = token[0] if token else 0.0
            added = until - max(now, was_until)
            conn.execute(
                "INSERT INTO token_pause VALUES (?, ?, 1, ?, ?, 1.0, ?, 0.0) "
                "ON CONFLICT (key) DO UPDATE SET until = max(until, excluded.until), "
                "refusals = refusals + 1, api_name = excluded.api_name, "
                "paused_s = paused_s + excluded.paused_s",
                (self.key, until, api_name, max(0.0, added), now),
            )
            paused_until = max(until, was_until)
            _, rate = self._state(conn, api_name, now)
            if token is not None and slot < token[3]:  # sent before the last cut: same event
                conn.execute(
                    "UPDATE api_budget SET next_slot = max(next_slot, ?) WHERE key = ?",
                    (until, key),
                )
                return Refusal(paused_until, rate, decreased=False)
            conn.execute("UPDATE token_pause SET last_cut = ? WHERE key = ?", (now, self.key))
            granted = conn.execute(
                "SELECT count(*) FROM grants WHERE key = ? AND at > ? AND at < ?",
                (key, slot - self.window_s, slot),
            ).fetchone()[0]
            granted_rate = granted * 60.0 / self.window_s
            new_rate = max(MIN_RATE, DECREASE * min(rate, granted_rate or rate))
            conn.execute(
                "INSERT INTO api_budget (key, next_slot, rate, probe_from) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET next_slot = max(next_slot, excluded.next_slot), "
                "rate = excluded.rate, probe_from = excluded.probe_from",
                (key, until, new_rate, now + self.probe_after_s),
            )
            # The API was using its budget (not idling below it): the refusal says what share
            # of a stated limit this token is granted now, for every API of it.
            if granted_rate >= 0.5 * rate:
                share = new_rate / self.limits.per_minute(api_name)
                current = 1.0 if token is None else _climbed(token[1], 1.0, token[2], now)
                if share < current:
                    conn.execute(
                        "UPDATE token_pause SET share = ?, share_probe_from = ? WHERE key = ?",
                        (share, now + self.probe_after_s, self.key),
                    )
            return Refusal(paused_until, new_rate, decreased=True)

    def paused_seconds(self) -> float:
        """Wall seconds the token has been paused in all (overlapping pauses counted once)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT paused_s FROM token_pause WHERE key = ?", (self.key,)
            ).fetchone()
        return row[0] if row else 0.0


def _climbed(value: float, limit: float, probe_from: float, now: float) -> float:
    """``value`` after climbing back from ``probe_from`` to ``now`` by 2% of ``limit`` a minute."""
    if now > probe_from:
        value += INCREASE_PER_MIN * limit * (now - probe_from) / 60
    return min(value, limit)
