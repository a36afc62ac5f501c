"""Query parameters shared by routes, validated before any query runs.

Formats are checked by pattern (documented in the OpenAPI schema); what a pattern cannot say
(a real calendar date, start before end, a bounded range) is checked here and answered with a
422 that names the parameter and says what to send instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Query, status

from twilight_resources.calendar import KEY_FORMAT
from twilight_serve.deps import NowDep

TS_CODE_PATTERN = r"^\d{6}\.(SH|SZ|BJ)$"
DATE_PATTERN = r"^\d{8}$"
MAX_RANGE_DAYS = 366 * 10
DEFAULT_RANGE_DAYS = 365
MAX_LIMIT = 5000

TsCode = Annotated[
    str,
    Query(
        pattern=TS_CODE_PATTERN,
        description="security code: 6 digits, a dot and SH, SZ or BJ (e.g. 600000.SH)",
        examples=["600000.SH"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip (paging)")]


def invalid(parameter: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{parameter}: {message}")


def parse_day(parameter: str, value: str) -> date:
    """A YYYYMMDD string as a date, or a 422 naming the parameter."""
    try:
        return datetime.strptime(value, KEY_FORMAT).date()
    except ValueError:
        raise invalid(parameter, f"{value!r} is not a calendar date; use YYYYMMDD") from None


def optional_day(value: str | None, parameter: str) -> date | None:
    return None if value is None else parse_day(parameter, value)


def _year_before(day: date) -> date:
    return day - timedelta(days=DEFAULT_RANGE_DAYS) if day.year > 1 else date.min


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date


async def date_range(
    now: NowDep,
    start_date: Annotated[
        str | None,
        Query(pattern=DATE_PATTERN, description="first day, YYYYMMDD (default: end - 1 year)"),
    ] = None,
    end_date: Annotated[
        str | None, Query(pattern=DATE_PATTERN, description="last day, YYYYMMDD (default: today)")
    ] = None,
) -> DateRange:
    """A bounded, ordered date range; both ends inclusive."""
    end = optional_day(end_date, "end_date") or now.date()
    start = optional_day(start_date, "start_date") or _year_before(end)
    if start > end:
        raise invalid("start_date", f"{start_date} is after end_date {end:%Y%m%d}; swap them")
    if (end - start).days > MAX_RANGE_DAYS:
        raise invalid(
            "start_date",
            f"the range spans {(end - start).days} days; ask for at most {MAX_RANGE_DAYS} "
            "days per request",
        )
    return DateRange(start, end)


DateRangeDep = Annotated[DateRange, Depends(date_range)]
