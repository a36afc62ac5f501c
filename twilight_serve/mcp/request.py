"""A tool call's arguments, checked and turned into what the warehouse query and coverage need.

The input schemas already carry the patterns, but the generic ``query`` tool takes free-form
params, so every check is made here once for both paths. What a pattern cannot say (a real
calendar date, start before end, a quarter end, a known field) is checked too; each failure is a
:class:`ToolError` naming the parameter and what to send instead.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from mcp.server.mcpserver.exceptions import ToolError

from twilight_resources.calendar import KEY_FORMAT, market_today
from twilight_resources.periods import QUARTER_ENDS
from twilight_serve.mcp.catalog import Kind, TableTool
from twilight_serve.validation import MAX_LIMIT, MAX_RANGE_DAYS

DEFAULT_LIMIT = 200
PAGING = ("fields", "limit", "offset")


@dataclass
class TableRequest:
    """One validated request of a table tool."""

    tool: TableTool
    params: dict[str, str]  # the Tushare params as given (what a live call sends)
    equals: dict[str, list[str | date]] = field(default_factory=dict)  # column -> values
    day: date | None = None
    start: date | None = None
    end: date | None = None
    period: date | None = None
    fields: list[str] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @property
    def range(self) -> tuple[date, date] | None:
        """The requested [first, last] day, or None when the request names no date."""
        if self.day is not None:
            return self.day, self.day
        if self.start is None:
            return None
        return self.start, self.end or market_today()


def parse_day(name: str, value: str) -> date:
    try:
        return datetime.strptime(value, KEY_FORMAT).date()
    except ValueError:
        raise ToolError(f"{name}: {value!r} is not a calendar date; use YYYYMMDD") from None


def parse_fields(value: str | list[str] | None, allowed: tuple[str, ...] | None) -> list[str]:
    """Tushare's ``fields``: a comma-separated string (or a list); unknown names are refused."""
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip() for n in names if n.strip()]
    if allowed is not None:
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise ToolError(
                f"fields: unknown field(s) {unknown}; this API has: {', '.join(allowed)}"
            )
    return list(dict.fromkeys(names))


def paging(limit: int | None, offset: int | None) -> tuple[int, int]:
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise ToolError(f"limit: {limit} is out of range; ask for 1 to {MAX_LIMIT} rows per page")
    if offset < 0:
        raise ToolError(f"offset: {offset} is negative; use 0 for the first page")
    return limit, offset


def _text(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ToolError(f"{name}: expected a string, got {type(value).__name__}")
    return str(value).strip()


def _count_arg(name: str, value: object) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ToolError(f"{name}: expected an integer, got {type(value).__name__}")


def _fields_arg(value: object) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ToolError(f"fields: expected names separated by commas, got {type(value).__name__}")


def table_request(tool: TableTool, arguments: Mapping[str, object]) -> TableRequest:
    """Check a table tool's arguments (Tushare names) and build the request."""
    unknown = sorted(set(arguments) - {p.name for p in tool.params} - set(PAGING))
    if unknown:
        names = ", ".join(p.name for p in tool.params)
        raise ToolError(f"{tool.api} has no parameter(s) {unknown}; it takes {names}")
    given = {k: _text(k, v) for k, v in arguments.items() if k not in PAGING and v is not None}
    given = {k: v for k, v in given.items() if v != ""}
    limit = _count_arg("limit", arguments.get("limit"))
    limit, offset = paging(limit, _count_arg("offset", arguments.get("offset")))
    fields = parse_fields(_fields_arg(arguments.get("fields")), tool.columns)
    request = TableRequest(tool, given, fields=fields, limit=limit, offset=offset)
    for param in tool.params:
        value = given.get(param.name, tool.defaults.get(param.name))
        if value is None:
            if param.required:
                raise ToolError(f"{param.name}: required by {tool.api} ({param.description})")
            continue
        if param.pattern and not re.fullmatch(param.pattern, value):
            raise ToolError(f"{param.name}: {value!r} is not valid; expected {param.description}")
        column = param.column or param.name
        if param.kind is Kind.EQUALS:
            values = value.split(",")
            dated = column in tool.date_columns
            request.equals[column] = [parse_day(param.name, v) if dated else v for v in values]
        elif param.kind is Kind.DAY:
            request.day = parse_day(param.name, value)
        elif param.kind is Kind.START:
            request.start = parse_day(param.name, value)
        elif param.kind is Kind.END:
            request.end = parse_day(param.name, value)
        else:
            request.period = parse_day(param.name, value)
            if (request.period.month, request.period.day) not in QUARTER_ENDS:
                raise ToolError(
                    f"{param.name}: {value} is not a report period; use a quarter end "
                    "(MMDD 0331, 0630, 0930 or 1231)"
                )
    _check_range(request)
    return request


def _check_range(request: TableRequest) -> None:
    if request.end is not None and request.start is None and request.day is None:
        if request.tool.grain.value not in ("whole", "period"):
            raise ToolError("start_date: required when end_date is given (YYYYMMDD)")
    if request.start and request.end and request.start > request.end:
        raise ToolError(
            f"start_date: {request.start:%Y%m%d} is after end_date {request.end:%Y%m%d}; swap them"
        )
    span = request.range
    if span and (span[1] - span[0]).days > MAX_RANGE_DAYS:
        raise ToolError(
            f"start_date: the range spans {(span[1] - span[0]).days} days; ask for at most "
            f"{MAX_RANGE_DAYS} days per request"
        )
