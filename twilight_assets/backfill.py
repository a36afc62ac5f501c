"""Chunked backfills (``twilight backfill``): a long range as consecutive range runs, overlapped.

One run per range keeps Dagster's per-run overhead small, but everything after a run's last
fetch (the raw write, normalizing, the normalized write, checks, one event per partition and
asset) then waits for the whole range while the call budget idles. Here the range is cut into
chunks, each an ordinary ``dagster asset materialize --partition-range`` run (single-run
backfill policy, visible in the UI). The next chunk is launched when the calls still owed by
the launched ones (their ``twilight plan`` call count less the calls the journal has recorded
since) would keep the budget busy only for about the time a run takes to make its first call:
while one chunk normalizes and records, the next one fetches, and no call slot is lost. Launched
together, chunks would share the budget and all reach their tails at the end; launched one
after the other, each would idle the budget while the next run starts.

A rerun resumes: chunks the warehouse already holds for every selected table (the normalized
partition ledger) are not started, and a started chunk skips the partitions it has fetched.
A failed chunk stops new launches; the running ones finish, and the command says which range
to rerun.
"""

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

from twilight_assets.plan import ALL_TABLES, plan_backfill
from twilight_resources.calendar import TradingCalendar
from twilight_resources.catalog import CATALOG, range_keys
from twilight_resources.processes import spawn_session, stop_sessions
from twilight_resources.progress import Reporter
from twilight_resources.settings import TwilightSettings
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.snapshots import read_pointer

LAYERS = ("raw", "normalized")
# Partitions per chunk run: each run costs ~15 s of CPU however small (processes, steps,
# events), so 200 a run rather than 100 cut a 3-year backfill's CPU a call by a sixth, at
# ~1.1 GB for the largest step process.
CHUNK = 200
# Each look costs a few SQLite reads (calls made, rates); the lead below is 15 s.
POLL_SECONDS = 1.0
# The time from launching a chunk's run to its first upstream call (process, run and step start)
# is ~7 s on a quiet 2-core machine and ~12 s while earlier chunks normalize: the next chunk is
# launched when the calls still owed would last this long. Overlapping chunks only share the
# budget; an idle call slot is lost for good.
LEAD_S = 15.0


@dataclass(frozen=True)
class Chunk:
    keys: tuple[str, ...]
    calls: int = 0  # upstream calls still needed, per the tables' planners

    @property
    def range(self) -> str:
        return f"{self.keys[0]}...{self.keys[-1]}"


def plan_chunks(
    apis: Sequence[str], start: str, end: str, size: int, cal: TradingCalendar
) -> list[Chunk]:
    """The range's partition keys in equal chunks of at most ``size``, then a shrinking tail.

    The tables must share their partitioning: one range run covers all of them.
    """
    unknown = sorted(set(apis) - set(ALL_TABLES))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; known: {sorted(ALL_TABLES)}")
    kinds = {ALL_TABLES[api].partitions for api in apis}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(
            "a backfill's tables must share one partitioning (e.g. daily,adj_factor,daily_basic; "
            "weekly and monthly each on its own); reference tables are not partitioned"
        )
    keys = range_keys(CATALOG[apis[0]], cal, start, end)
    tail: list[int] = []  # the last chunk first
    for n in shrinking_tail(size):
        if sum(tail) + n > len(keys):
            break
        tail.append(n)
    body = len(keys) - sum(tail)  # cut into equal chunks of at most ``size``
    count = -(-body // size)
    sizes = [round((i + 1) * body / count) - round(i * body / count) for i in range(count)]
    chunks, at = [], 0
    for n in [*sizes, *reversed(tail)]:
        chunks.append(Chunk(tuple(keys[at : at + n])))
        at += n
    return chunks


def shrinking_tail(size: int) -> list[int]:
    """Sizes of the last chunks, last first: a quarter of ``size``, each earlier one half again.

    A chunk's tail (writes, normalizing, checks, events) runs while the next chunk fetches and
    takes longer the bigger the chunk; the last tail runs alone. Shrinking chunks keep each tail
    within the next chunk's fetching and the last one short.
    """
    sizes = [max(1, size // 4)]
    while (grown := -(-sizes[-1] * 3 // 2)) < size:
        sizes.append(grown)
    return sizes


def with_calls(
    chunks: list[Chunk], apis: Sequence[str], settings: TwilightSettings, cal: TradingCalendar
) -> list[Chunk]:
    """The chunks with the calls each still needs (what ``twilight plan`` would print)."""
    return [
        Chunk(c.keys, sum(p.calls for p in plan_backfill(list(apis), c.keys[0], c.keys[-1],
                                                          settings, cal)))
        for c in chunks
    ]  # fmt: skip


def pending(chunks: list[Chunk], apis: Sequence[str], settings: TwilightSettings) -> list[Chunk]:
    """Chunks some selected table does not hold yet (per the normalized partition ledger)."""
    if read_pointer(settings.warehouse_file) is None:
        return chunks
    with WarehouseReader.from_settings(settings, pool_size=1) as reader:
        return [
            c for c in chunks
            if any(reader.missing_partitions(f"normalized_{api}", c.keys) for api in apis)
        ]  # fmt: skip


def materialize_command(apis: Sequence[str], chunk: Chunk | None = None) -> list[str]:
    """``dagster asset materialize`` of both layers of ``apis`` (over the chunk's range)."""
    selection = ",".join(f"{layer}/{api}" for api in apis for layer in LAYERS)
    cmd = [
        str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
        "-m", "twilight_assets.definitions", "--select", selection,
    ]  # fmt: skip
    return [*cmd, "--partition-range", chunk.range] if chunk else cmd


class BackfillProgress:
    """What ``twilight backfill`` shows while it runs: calls made of the total (the bar, with
    rate and ETA), partitions of finished chunks, the running chunks and rows per table."""

    def __init__(
        self,
        apis: Sequence[str],
        chunks: Sequence[Chunk],
        settings: TwilightSettings,
        calls_made: Callable[[], int],
        reporter: Reporter,
    ) -> None:
        self.apis, self.settings, self.reporter = apis, settings, reporter
        self.calls_made = calls_made
        self.partitions = sum(len(c.keys) for c in chunks)
        self.keys = [k for c in chunks for k in c.keys]
        self.finished = 0
        self.rows: dict[str, int] = {}

    def _count_rows(self) -> None:
        if not self.keys or read_pointer(self.settings.warehouse_file) is None:
            return
        tables = [f"normalized_{api}" for api in self.apis]
        with WarehouseReader.from_settings(self.settings, pool_size=1) as reader:
            frame = reader.query(
                "SELECT table_name, sum(rows) AS rows FROM meta_partition_latest "
                "WHERE table_name IN (SELECT unnest(?)) AND partition_key IN (SELECT unnest(?)) "
                "GROUP BY table_name",
                [tables, self.keys],
            )
        names, rows = frame["table_name"].tolist(), frame["rows"].tolist()
        self.rows = {
            str(name).removeprefix("normalized_"): int(n)
            for name, n in zip(names, rows, strict=True)
        }

    def poll(self, running: Sequence[Chunk], finished: Sequence[Chunk]) -> None:
        done = sum(len(c.keys) for c in finished)
        if len(finished) != self.finished:
            self.finished = len(finished)
            self._count_rows()
        self.reporter.update(self.calls_made(), self.info(done, running))

    def info(self, done: int, running: Sequence[Chunk]) -> str:
        parts = [f"partitions {done}/{self.partitions}"]
        if running:
            parts.append("running " + ", ".join(c.range for c in running))
        if self.rows:
            parts.append("rows " + ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows.items())))
        return "; ".join(parts)

    def summary(self) -> str:
        self._count_rows()
        rows = ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows.items())) or "no new rows"
        return f"{self.calls_made()} calls, {self.partitions} partitions; rows: {rows}"


def chunk_log(log_dir: Path, chunk: Chunk) -> Path:
    return log_dir / f"backfill-{chunk.keys[0]}.log"


def run_chunks(
    apis: Sequence[str],
    chunks: list[Chunk],
    seconds_per_call: Callable[[], float],
    calls_made: Callable[[], int],
    parallel: int,
    log_dir: Path,
    niceness: int = 0,
    say: Callable[[str], Any] = print,
    on_poll: Callable[[list[Chunk], list[Chunk]], None] | None = None,
) -> list[Chunk]:
    """Run the chunks in order, at most ``parallel`` at a time; returns the chunks that failed.

    ``calls_made`` counts the calls made since the start; the next chunk is launched when the
    launched chunks owe no more than ``LEAD_S`` of calls. Runs start at ``niceness`` (their
    steps lower it further as they go), so even their imports yield to serving processes.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    todo = list(chunks)
    failed: list[Chunk] = []
    finished: list[Chunk] = []
    running: dict[Chunk, Popen[bytes]] = {}
    owed = 0  # calls of the launched chunks, made or not
    try:
        while todo or running:
            while (todo and not failed and len(running) < parallel
                   and (owed - calls_made()) * seconds_per_call() <= LEAD_S):  # fmt: skip
                chunk = todo.pop(0)
                with chunk_log(log_dir, chunk).open("ab") as out:
                    running[chunk] = spawn_session(
                        materialize_command(apis, chunk), stdout=out, niceness=niceness
                    )
                owed += chunk.calls
                say(f"started {chunk.range} ({len(chunk.keys)} partitions, {chunk.calls} calls)")
            if failed and not running:
                break
            if on_poll:
                on_poll(list(running), finished)
            time.sleep(POLL_SECONDS)
            for chunk, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[chunk]
                if proc.returncode == 0:
                    finished.append(chunk)
                    say(f"finished {chunk.range}")
                else:
                    failed.append(chunk)
                    say(
                        f"FAILED {chunk.range} (exit {proc.returncode}); log: "
                        f"{chunk_log(log_dir, chunk)}"
                    )
        if on_poll:
            on_poll([], finished)
    finally:
        stop_sessions(list(running.values()))
    return failed
