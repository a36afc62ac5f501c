"""Report periods and their legal disclosure windows.

Q1 reports are due by 30 April, half-year reports by 31 August, Q3 by 31 October, annual reports
by 30 April of the next year. A period is *open* from its quarter end until a few days after its
deadline: only then can new disclosures (and so new statements) appear, so refreshes ask only
open periods and skip with a reason outside the season.
"""

from __future__ import annotations

from datetime import date, timedelta

QUARTER_ENDS = ((3, 31), (6, 30), (9, 30), (12, 31))
# Days after the deadline a period stays open: the refresh after the last legal day still runs.
GRACE_DAYS = 3


def quarter_ends(start: date, end: date) -> list[date]:
    """Quarter ends in [start, end]."""
    return [
        date(year, month, day)
        for year in range(start.year, end.year + 1)
        for month, day in QUARTER_ENDS
        if start <= date(year, month, day) <= end
    ]


def deadline(period: date) -> date:
    """The last legal day to disclose the report of ``period``."""
    if period.month == 12:
        return date(period.year + 1, 4, 30)
    return {3: date(period.year, 4, 30), 6: date(period.year, 8, 31), 9: date(period.year, 10, 31)}[
        period.month
    ]


def open_periods(day: date) -> list[date]:
    """Periods whose disclosure window contains ``day`` (oldest first)."""
    candidates = quarter_ends(date(day.year - 1, 1, 1), day - timedelta(days=1))
    return [p for p in candidates if day <= deadline(p) + timedelta(days=GRACE_DAYS)]
