"""The simulated "now": what exists depends on it, and tests move it at runtime.

A day's bars are published at 16:00 (Tushare stores daily data between 15:00 and 16:00);
announcements are visible from their announcement day on. A date given without a time means
the end of that day.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import numpy as np

from twilight_sim.calendar import TradingCalendar, to_int

PUBLISH_TIME = time(16, 0)
_FORMATS = (
    "%Y%m%d %H:%M:%S",
    "%Y%m%dT%H:%M:%S",
    "%Y%m%d %H:%M",
    "%Y%m%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)


def parse_now(value: str | datetime) -> datetime:
    """Accept a datetime, 'YYYYMMDD', 'YYYY-MM-DD' or either with a time ('T' or space)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    text = value.strip()
    if re.fullmatch(r"\d{8}|\d{4}-\d{2}-\d{2}", text):
        day = datetime.strptime(text.replace("-", ""), "%Y%m%d")
        return day.replace(hour=23, minute=59, second=59)
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"cannot read a date/time from {value!r}; use YYYYMMDD or YYYYMMDDTHH:MM")


@dataclass(frozen=True)
class Visibility:
    """What a request may see: announcements up to ``today``, bars up to day index ``last_day``."""

    now: datetime
    today: int
    last_day: int


class SimClock:
    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, value: str | datetime) -> datetime:
        with self._lock:
            self._now = parse_now(value)
            return self._now

    def advance(self, days: float = 0, hours: float = 0) -> datetime:
        with self._lock:
            self._now += timedelta(days=days, hours=hours)
            return self._now


def visibility(now: datetime, days: TradingCalendar) -> Visibility:
    today = to_int(now.date())
    last = int(np.searchsorted(days.trade_dates, today, "right")) - 1
    if last >= 0 and days.trade_dates[last] == today and now.time() < PUBLISH_TIME:
        last -= 1
    return Visibility(now, today, last)
