"""Where the market is in its day (open, lunch break, closed, holiday), from the stored calendar.

The quote composer picks its source by this, and the quote cache derives its lifetime from it.
The calendar comes from the warehouse's ``normalized_trade_cal`` and is reloaded when a newer
snapshot is published. Without a calendar every day counts as closed: a quote is then served
from the last close and marked stale rather than pretending the market is live.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import duckdb

from twilight_resources.calendar import MARKET_TZ, TradingCalendar, calendar_from_frame
from twilight_resources.sessions import CLOSE, LUNCH_END, LUNCH_START, OPEN, Phase
from twilight_resources.warehouse import SnapshotUnavailableError, WarehouseReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarketState:
    """The market at one instant (Asia/Shanghai)."""

    at: datetime
    phase: Phase
    next_open: datetime | None  # the next continuous-trading start after ``at``
    last_close_date: date | None  # the newest session whose close has passed

    @property
    def is_trading(self) -> bool:
        return self.phase in (Phase.MORNING, Phase.AFTERNOON)


def _at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=MARKET_TZ)


def market_state(calendar: TradingCalendar, now: datetime) -> MarketState:
    """The phase of the market at ``now`` on ``calendar``."""
    now = now.astimezone(MARKET_TZ)
    today, clock = now.date(), now.time()
    following = calendar.next_open(today)
    next_day_open = _at(following, OPEN) if following else None
    if not calendar.covers(today):
        return MarketState(now, Phase.UNKNOWN, next_day_open, calendar.previous_open(today))
    if not calendar.is_open(today):
        return MarketState(now, Phase.CLOSED_DAY, next_day_open, calendar.previous_open(today))
    previous = calendar.previous_open(today)
    if clock < OPEN:
        return MarketState(now, Phase.PRE_OPEN, _at(today, OPEN), previous)
    if clock < LUNCH_START:
        return MarketState(now, Phase.MORNING, _at(today, LUNCH_END), previous)
    if clock < LUNCH_END:
        return MarketState(now, Phase.LUNCH_BREAK, _at(today, LUNCH_END), previous)
    if clock < CLOSE:
        return MarketState(now, Phase.AFTERNOON, next_day_open, previous)
    return MarketState(now, Phase.AFTER_CLOSE, next_day_open, today)


class MarketStateResolver:
    """Market state from the warehouse calendar, reloaded when a newer snapshot appears."""

    def __init__(self, reader: WarehouseReader, exchange: str, simulated: bool = False) -> None:
        """``simulated``: the calendar is the simulated market's, whose clock stops at the end
        of its last day (twilight_sim's default "now"); past it, the state is taken there
        instead of "unknown" for every instant after the simulated range."""
        self._reader = reader
        self._exchange = exchange
        self._simulated = simulated
        self._lock = threading.Lock()
        self._generation: int | None = None
        self.calendar = TradingCalendar([])
        self.refresh()
        if not len(self.calendar):
            log.warning(
                "no trade calendar for %s in the warehouse: the market counts as closed "
                "until normalized/trade_cal is materialized",
                exchange,
            )

    def refresh(self) -> None:
        """Reload the calendar if the reader's snapshot changed since the last load."""
        try:
            generation = self._reader.snapshot_info().generation
        except SnapshotUnavailableError:
            return
        if generation == self._generation:
            return
        with self._lock:
            if generation == self._generation:
                return
            try:
                frame = self._reader.query(
                    "SELECT cal_date, is_open FROM normalized_trade_cal WHERE exchange = ? "
                    "ORDER BY cal_date",
                    [self._exchange],
                )
            except duckdb.Error as exc:  # a snapshot from before trade_cal existed
                log.warning("trade calendar not readable (%s); keeping the previous one", exc)
                frame = None
            if frame is not None:
                self.calendar = calendar_from_frame(frame)
            self._generation = generation

    def state(self, now: datetime) -> MarketState:
        self.refresh()
        last = self.calendar.last
        if self._simulated and last is not None and now.astimezone(MARKET_TZ).date() > last:
            now = datetime.combine(last, time(23, 59, 59), tzinfo=MARKET_TZ)
        return market_state(self.calendar, now)


def until_next_open(state: MarketState) -> datetime:
    """When a quote taken outside trading hours stops being the newest one can get."""
    if state.next_open is not None:
        return state.next_open
    # The calendar ends (or is missing): assume the next morning and look again then.
    return _at(state.at.date() + timedelta(days=1), OPEN)
