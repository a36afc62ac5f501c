"""The SSE/SZSE trading calendar: weekends plus the Chinese public holidays.

Both exchanges share one calendar. Holidays follow the State Council rules closely enough that
2022-2025 match the real exchange calendar: New Year, Spring Festival (eve plus about a week),
Qingming, Labour Day, Dragon Boat, Mid-Autumn and National Day (Oct 1-7). Lunar dates come from
small tables, with an approximation outside them.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt

# Lunar New Year's day (month, day) by year.
_SPRING = {
    1990: (1, 27),
    1991: (2, 15),
    1992: (2, 4),
    1993: (1, 23),
    1994: (2, 10),
    1995: (1, 31),
    1996: (2, 19),
    1997: (2, 7),
    1998: (1, 28),
    1999: (2, 16),
    2000: (2, 5),
    2001: (1, 24),
    2002: (2, 12),
    2003: (2, 1),
    2004: (1, 22),
    2005: (2, 9),
    2006: (1, 29),
    2007: (2, 18),
    2008: (2, 7),
    2009: (1, 26),
    2010: (2, 14),
    2011: (2, 3),
    2012: (1, 23),
    2013: (2, 10),
    2014: (1, 31),
    2015: (2, 19),
    2016: (2, 8),
    2017: (1, 28),
    2018: (2, 16),
    2019: (2, 5),
    2020: (1, 25),
    2021: (2, 12),
    2022: (2, 1),
    2023: (1, 22),
    2024: (2, 10),
    2025: (1, 29),
    2026: (2, 17),
    2027: (2, 6),
    2028: (1, 26),
    2029: (2, 13),
    2030: (2, 3),
}
_DRAGON_BOAT = {
    2015: (6, 20),
    2016: (6, 9),
    2017: (5, 30),
    2018: (6, 18),
    2019: (6, 7),
    2020: (6, 25),
    2021: (6, 14),
    2022: (6, 3),
    2023: (6, 22),
    2024: (6, 10),
    2025: (5, 31),
    2026: (6, 19),
    2027: (6, 9),
    2028: (5, 28),
    2029: (6, 16),
    2030: (6, 5),
}
_MID_AUTUMN = {
    2015: (9, 27),
    2016: (9, 15),
    2017: (10, 4),
    2018: (9, 24),
    2019: (9, 13),
    2020: (10, 1),
    2021: (9, 21),
    2022: (9, 10),
    2023: (9, 29),
    2024: (9, 17),
    2025: (10, 6),
    2026: (9, 25),
    2027: (9, 15),
    2028: (10, 3),
    2029: (9, 22),
    2030: (9, 12),
}


def to_date(value: int | str) -> date:
    text = str(value)
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def to_int(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def to_day64(dates: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    """Vectorised YYYYMMDD ints -> numpy days."""
    months = (dates // 10000 - 1970) * 12 + (dates // 100 % 100 - 1)
    firsts: npt.NDArray[np.datetime64] = months.astype("datetime64[M]").astype("datetime64[D]")
    return firsts + (dates % 100 - 1)


def from_day64(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    months = days.astype("datetime64[M]")
    ym = months.astype(np.int64)
    dom: npt.NDArray[np.int64] = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return (ym // 12 + 1970) * 10000 + (ym % 12 + 1) * 100 + dom


def shift_days(
    dates: npt.NDArray[np.int64], delta: npt.NDArray[np.int64] | int
) -> npt.NDArray[np.int64]:
    """YYYYMMDD ints moved by whole calendar days."""
    return from_day64(to_day64(np.asarray(dates)) + np.asarray(delta).astype("timedelta64[D]"))


def _lunar(table: dict[int, tuple[int, int]], year: int, offset_days: int) -> date:
    if year in table:
        return date(year, *table[year])
    return spring_festival(year) + timedelta(days=offset_days)


def spring_festival(year: int) -> date:
    month, day = _SPRING.get(year, (2, 1))
    return date(year, month, day)


def _single_day(day: date) -> set[date]:
    """A one-day holiday, bridged to the weekend (Tue -> Mon, Thu -> Fri, weekend -> Mon)."""
    days = {day}
    weekday = day.weekday()
    if weekday == 1:
        days.add(day - timedelta(days=1))
    elif weekday == 3:
        days.add(day + timedelta(days=1))
    elif weekday >= 5:
        days.add(day + timedelta(days=7 - weekday))
    return days


def _span(first: date, length: int) -> set[date]:
    return {first + timedelta(days=i) for i in range(length)}


@lru_cache(maxsize=128)
def holidays(year: int) -> frozenset[date]:
    """Weekday closures of one year (weekends are closed anyway)."""
    days: set[date] = set(_single_day(date(year, 1, 1)))
    spring = spring_festival(year)
    days |= _span(spring - timedelta(days=1), 8 if year >= 2025 else 7)
    after = spring + timedelta(days=6)
    if year < 2025 and after.weekday() == 4:
        days.add(after)
    days |= _single_day(date(year, 4, 4 if year % 4 in (0, 1) else 5))
    may1 = date(year, 5, 1)
    start = may1 - timedelta(days=(may1.weekday() - 5) % 7) if may1.weekday() in (0, 6) else may1
    days |= _span(start, 5 if year >= 2020 else 3)
    days |= _single_day(_lunar(_DRAGON_BOAT, year, 123))
    autumn = _lunar(_MID_AUTUMN, year, 222)
    merged = date(year, 9, 29) <= autumn <= date(year, 10, 8)
    days |= {autumn} if merged else _single_day(autumn)
    days |= _span(date(year, 10, 1), 8 if merged and autumn >= date(year, 10, 1) else 7)
    return frozenset(d for d in days if d.year == year and d.weekday() < 5)


def is_open(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year)


def open_days(first: int, last: int) -> npt.NDArray[np.int64]:
    """Trading days in [first, last] as YYYYMMDD ints."""
    day, end = to_date(first), to_date(last)
    out = []
    while day <= end:
        if is_open(day):
            out.append(to_int(day))
        day += timedelta(days=1)
    return np.array(out, dtype=np.int64)


class TradingCalendar:
    """All calendar days of a range with open flags, as int YYYYMMDD arrays for fast lookups."""

    def __init__(self, first: int, last: int) -> None:
        start, end = to_date(first), to_date(last)
        n = (end - start).days + 1
        days = [start + timedelta(days=i) for i in range(n)]
        self.cal_dates = np.array([to_int(d) for d in days], dtype=np.int64)
        self.is_open = np.array([is_open(d) for d in days], dtype=bool)
        self.trade_dates = self.cal_dates[self.is_open]
        # pretrade_date: the last open day strictly before each calendar day.
        prev_open = self._previous_open(start)
        pre = np.empty(n, dtype=np.int64)
        last_open = prev_open
        for i, (d, open_) in enumerate(zip(self.cal_dates, self.is_open, strict=True)):
            pre[i] = last_open
            if open_:
                last_open = int(d)
        self.pretrade = pre

    @staticmethod
    def _previous_open(day: date) -> int:
        day -= timedelta(days=1)
        while not is_open(day):
            day -= timedelta(days=1)
        return to_int(day)

    @property
    def n_days(self) -> int:
        return int(self.trade_dates.size)

    def day_index(self, trade_date: int) -> int:
        """Index of a trading day, or -1 if it is not one."""
        i = int(np.searchsorted(self.trade_dates, trade_date))
        if i < self.trade_dates.size and self.trade_dates[i] == trade_date:
            return i
        return -1

    def index_range(self, start: int | None, end: int | None) -> tuple[int, int]:
        """Half-open [i0, i1) of trading-day indices with start <= date <= end."""
        i0 = 0 if start is None else int(np.searchsorted(self.trade_dates, start, "left"))
        i1 = self.n_days if end is None else int(np.searchsorted(self.trade_dates, end, "right"))
        return i0, max(i0, i1)

    def period_ends(self, kind: str) -> npt.NDArray[np.bool_]:
        """Mask of trading days that are the last trading day of their week or month."""
        following = to_date(int(self.trade_dates[-1])) + timedelta(days=1)
        while not is_open(following):
            following += timedelta(days=1)
        dates = np.append(self.trade_dates, to_int(following))
        if kind == "week":
            key = np.array([to_date(d).isocalendar()[:2] for d in dates]).dot([100, 1])
        else:
            key = dates // 100
        ends: npt.NDArray[np.bool_] = key[1:] != key[:-1]
        return ends
