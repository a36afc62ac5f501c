"""Does the warehouse hold the whole answer to a request? Decided from the partition ledger.

A request maps to the partition keys its table is stored by (open days from the stored calendar,
week or month ends, report periods, or the one key of an unpartitioned table) through
:func:`twilight_resources.catalog.request_keys`, the function ``twilight plan`` counts a
backfill with (Dagster-free, so the server starts fast). It is a hit only if every one of those keys
has a ledger row whose latest fetch returned rows: an empty fetch means the upstream had not
published yet, the same rule the backfill resume uses. For report periods an empty fetch made
after the disclosure window closed is final, so it counts. Anything else is a miss, answered
live in full: a partial hit is never answered with partial data.
"""

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from twilight_resources.calendar import TradingCalendar, calendar_from_frame, to_key
from twilight_resources.catalog import Grain, request_keys
from twilight_resources.periods import GRACE_DAYS, deadline
from twilight_resources.settings import TwilightSettings
from twilight_resources.warehouse import SnapshotUnavailableError, WarehouseReader
from twilight_resources.warehouse.writer import UNPARTITIONED
from twilight_serve.mcp.catalog import TableTool
from twilight_serve.mcp.request import TableRequest

LEDGER_SQL = (
    "SELECT partition_key, written_at, rows FROM meta_partition_latest WHERE table_name = ?"
)
CALENDAR_SQL = (
    "SELECT cal_date, is_open FROM normalized_trade_cal WHERE exchange = ? ORDER BY cal_date"
)
CAL_RANGE_SQL = "SELECT min(cal_date), max(cal_date) FROM normalized_trade_cal WHERE exchange = ?"
SHOWN_MISSING = 10

Ledger = dict[str, tuple[pd.Timestamp, int]]  # partition key -> (written_at, rows), latest write


@dataclass(frozen=True)
class Coverage:
    """The verdict for one request: hit or miss, why, and how fresh the held data is."""

    covered: bool
    reason: str
    needed: int = 0
    missing: tuple[str, ...] = ()
    as_of: datetime | None = None  # newest fetch among the needed partitions
    generation: int | None = None  # snapshot the verdict was read from


class CoverageChecker:
    """Derives a request's partition keys and checks them against the ledger."""

    def __init__(self, reader: WarehouseReader, settings: TwilightSettings) -> None:
        self.reader, self.settings = reader, settings
        self._calendar: tuple[int, TradingCalendar] | None = None
        self._ledgers: tuple[int, dict[str, Ledger]] = (-1, {})
        self._lock = threading.Lock()  # tools run on worker threads

    def calendar(self, generation: int) -> TradingCalendar:
        """The stored market calendar, read once per snapshot generation."""
        with self._lock:
            if self._calendar is None or self._calendar[0] != generation:
                frame = self.reader.query(CALENDAR_SQL, [self.settings.market_exchange])
                self._calendar = (generation, calendar_from_frame(frame))
            return self._calendar[1]

    def ledger(self, table: str, generation: int) -> Ledger:
        """A table's latest ledger row per partition, read once per snapshot generation.

        Snapshots are immutable, so a hit costs no bookkeeping query after the first; a newer
        snapshot only adds or refreshes partitions, so reading the data from it is still whole.
        """
        with self._lock:
            if self._ledgers[0] != generation:
                self._ledgers = (generation, {})
            cached = self._ledgers[1].get(table)
            if cached is None:
                frame = self.reader.query(LEDGER_SQL, [table])
                cached = {k: (w, r) for k, w, r in frame.itertuples(index=False, name=None)}
                self._ledgers[1][table] = cached
            return cached

    def check(self, request: TableRequest) -> Coverage:
        try:
            generation = self.reader.snapshot_info().generation
        except SnapshotUnavailableError:
            return Coverage(False, "the warehouse has published no snapshot yet")
        tool = request.tool
        untracked = self._untracked(request)
        if untracked:
            return Coverage(
                False,
                f"{untracked} not among the tracked indices "
                f"(TWILIGHT_INDEX_CODES: {','.join(self.settings.index_codes)})",
                generation=generation,
            )
        keys = self.keys(request, generation)
        if isinstance(keys, str):
            return Coverage(False, keys, generation=generation)
        if tool.api == "trade_cal":
            gap = self._calendar_gap(request)
            if gap:
                return Coverage(False, gap, generation=generation)
        ledger = self.ledger(tool.table, generation)
        held = [ledger[k] for k in keys if k in ledger]
        missing = [k for k in keys if not _counts(tool, k, ledger.get(k))]
        newest = max((w for w, _ in held), default=None)
        as_of = None if newest is None else pd.Timestamp(newest).to_pydatetime().replace(tzinfo=UTC)
        if missing:
            shown = tuple(missing[:SHOWN_MISSING])
            return Coverage(
                False,
                f"{len(missing)} of {len(keys)} partition(s) not fetched yet",
                len(keys),
                shown,
                as_of,
                generation,
            )
        return Coverage(
            True, f"all {len(keys)} partition(s) fetched", len(keys), (), as_of, generation
        )

    def keys(self, request: TableRequest, generation: int) -> list[str] | str:
        """The partition keys the request needs, or the reason none can be derived."""
        entry = request.tool.entry
        if entry.grain is Grain.WHOLE:
            return [UNPARTITIONED]
        if entry.grain is Grain.PERIOD:
            if request.period is None:
                return (
                    "no report period given: the warehouse stores statements by period, so "
                    "only a request naming one (period / end_date) is answered from it"
                )
            return request_keys(entry, self.calendar(generation), request.period, request.period)
        span = request.range
        if span is None:
            return (
                "no trade_date or start_date given: only dated requests are answered from "
                "the warehouse"
            )
        lo, hi = span
        cal = self.calendar(generation)
        if not (cal.covers(lo) and cal.covers(hi)):
            return f"the stored calendar ({_span(cal)}) does not cover {to_key(lo)}..{to_key(hi)}"
        return request_keys(entry, cal, lo, hi)

    def _untracked(self, request: TableRequest) -> str | None:
        name = request.tool.tracked_param
        if name is None:
            return None
        column = request.tool.param(name).column or name
        codes = [str(c) for c in request.equals.get(column, [])]
        outside = [c for c in codes if c not in self.settings.index_codes]
        return ",".join(outside) or None

    def _calendar_gap(self, request: TableRequest) -> str | None:
        """trade_cal is one partition, but it holds only the span it was fetched for."""
        if request.start is None:
            return "no start_date: Tushare would answer the exchange's whole history"
        exchanges = [str(e) for e in request.equals.get("exchange", ["SSE"])]
        for exchange in exchanges:
            first, last = self.reader.query(CAL_RANGE_SQL, [exchange]).iloc[0]
            if pd.isna(first):
                return f"no calendar of {exchange} is stored"
            hi = request.end or pd.Timestamp(last).date()
            if request.start < pd.Timestamp(first).date() or hi > pd.Timestamp(last).date():
                return f"the stored {exchange} calendar spans {first:%Y%m%d}..{last:%Y%m%d}"
        return None


def _counts(tool: TableTool, key: str, held: tuple[pd.Timestamp, int] | None) -> bool:
    """Whether one partition's latest fetch answers for it (see the module docstring)."""
    if held is None:
        return False
    written_at, rows = held
    if rows > 0:
        return True
    if tool.grain is Grain.PERIOD:
        closes = deadline(date(int(key[:4]), int(key[4:6]), int(key[6:])))
        fetched = pd.Timestamp(written_at).date()
        return fetched > closes + timedelta(days=GRACE_DAYS)
    return False


def _span(cal: TradingCalendar) -> str:
    if cal.first is None or cal.last is None:
        return "empty"
    return f"{to_key(cal.first)}..{to_key(cal.last)}"
