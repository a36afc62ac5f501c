"""The trading calendar: which days the exchange is open, and the periods built on them.

Partitions, schedules, checks and the read API's market state all ask the same questions
(is this a trading day? what was the last trading day of that week?), so they are answered here
from one table of open days, as stored in ``normalized_trade_cal``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from twilight_resources.settings import TwilightSettings

MARKET_TZ = ZoneInfo("Asia/Shanghai")
KEY_FORMAT = "%Y%m%d"


def to_key(day: date) -> str:
    return day.strftime(KEY_FORMAT)


def from_key(key: str) -> date:
    return datetime.strptime(key, KEY_FORMAT).date()


def market_today(now: datetime | None = None) -> date:
    """Today's date on the exchange (Asia/Shanghai), whatever the host's timezone."""
    return (now or datetime.now(MARKET_TZ)).astimezone(MARKET_TZ).date()


class TradingCalendar:
    """Open days of one exchange, sorted; days outside the known range are unknown, not closed."""

    def __init__(
        self, open_days: Iterable[date], first: date | None = None, last: date | None = None
    ) -> None:
        self.days: list[date] = sorted(set(open_days))
        self.first = first or (self.days[0] if self.days else None)
        self.last = last or (self.days[-1] if self.days else None)
        self._set = frozenset(self.days)

    def __len__(self) -> int:
        return len(self.days)

    def covers(self, day: date) -> bool:
        return self.first is not None and self.last is not None and self.first <= day <= self.last

    def is_open(self, day: date) -> bool:
        return day in self._set

    def open_days(self, start: date | None = None, end: date | None = None) -> list[date]:
        lo = 0 if start is None else bisect.bisect_left(self.days, start)
        hi = len(self.days) if end is None else bisect.bisect_right(self.days, end)
        return self.days[lo:hi]

    def previous_open(self, day: date) -> date | None:
        """The last open day strictly before ``day``."""
        i = bisect.bisect_left(self.days, day)
        return self.days[i - 1] if i > 0 else None

    def next_open(self, day: date) -> date | None:
        """The first open day strictly after ``day``."""
        i = bisect.bisect_right(self.days, day)
        return self.days[i] if i < len(self.days) else None

    def period_ends(self, period: str, end: date | None = None) -> list[date]:
        """Last open day of each ISO week (``period='W'``) or month (``'M'``), up to ``end``.

        A period's end is known only once the calendar shows the next period's first open day,
        so the final period of the known calendar is left out rather than guessed.
        """
        ends = [
            current
            for current, following in zip(self.days, self.days[1:], strict=False)
            if _period_of(current, period) != _period_of(following, period)
        ]
        return ends if end is None else [d for d in ends if d <= end]

    def period_start(self, period_end: date, period: str) -> date:
        """First calendar day of the week or month that ends on ``period_end``."""
        if period == "W":
            return date.fromordinal(period_end.toordinal() - period_end.weekday())
        return period_end.replace(day=1)


def _period_of(day: date, period: str) -> tuple[int, int]:
    if period == "W":
        iso = day.isocalendar()
        return iso.year, iso.week
    return day.year, day.month


def load_calendar(settings: TwilightSettings) -> TradingCalendar:
    """The stored calendar of the configured exchange; empty before trade_cal is materialized."""
    from twilight_resources.warehouse import WarehouseReader
    from twilight_resources.warehouse.snapshots import read_pointer

    if read_pointer(settings.warehouse_file) is None:
        return TradingCalendar([])
    with WarehouseReader.from_settings(settings, pool_size=1) as reader:
        frame = reader.query(
            "SELECT cal_date, is_open FROM normalized_trade_cal WHERE exchange = ? "
            "ORDER BY cal_date",
            [settings.market_exchange],
        )
    return calendar_from_frame(frame)


def calendar_from_frame(frame: pd.DataFrame) -> TradingCalendar:
    """A calendar from ``cal_date`` (date) and ``is_open`` ('1'/'0') columns."""
    if frame.empty:
        return TradingCalendar([])
    days = pd.to_datetime(frame["cal_date"]).dt.date
    is_open = frame["is_open"].astype(str) == "1"
    return TradingCalendar(days[is_open], first=days.min(), last=days.max())
