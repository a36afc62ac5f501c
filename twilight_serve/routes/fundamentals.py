"""Financial statements: point in time from the warehouse, and the latest known version.

Both go through :mod:`twilight_serve.fundamentals`, which owns what "known on a day" means
(per report, the newest version announced on or before it). Bodies are rendered by orjson from
the fetched rows, as the warehouse routes do: a report of ~500 values through pydantic cost
more than reading it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Response

from twilight_resources.providers import UnknownSecurityError
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.deps import NowDep, ReaderDep, require_bearer
from twilight_serve.fundamentals import statement_records
from twilight_serve.models import PROBLEMS, Statements
from twilight_serve.validation import DATE_PATTERN, TsCode, invalid, parse_day

router = APIRouter(
    tags=["fundamentals"], dependencies=[Depends(require_bearer)], responses=PROBLEMS
)

QUARTER_ENDS = {(3, 31), (6, 30), (9, 30), (12, 31)}
KNOWN_SQL = "SELECT 1 FROM normalized_stock_basic WHERE ts_code = ? LIMIT 1"


def _statements(
    reader: WarehouseReader,
    ts_code: str,
    records: dict[str, list[dict[str, Any]]],
    period: date | None = None,
    as_of: date | None = None,
) -> Response:
    """The answer (a :class:`Statements`); 404 if nothing is known of an unknown security."""
    if not any(records.values()) and reader.query(KNOWN_SQL, [ts_code]).empty:
        raise UnknownSecurityError(ts_code)
    body = {
        "ts_code": ts_code,
        "period": f"{period:%Y%m%d}" if period else None,
        "as_of": f"{as_of:%Y%m%d}" if as_of else None,
        "statements": records,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/warehouse/fundamentals", response_model=Statements)
def fundamentals_as_of(
    reader: ReaderDep,
    now: NowDep,
    ts_code: TsCode,
    period: Annotated[
        str | None,
        Query(
            pattern=DATE_PATTERN,
            description="report period end, YYYYMMDD quarter end "
            "(default: the newest known on as_of)",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        Query(
            pattern=DATE_PATTERN,
            description="the day the answer is as known on, YYYYMMDD (default: today)",
        ),
    ] = None,
) -> Response:
    """Statements of one stock as they were known on ``as_of`` (no restatement leaks in)."""
    end = parse_day("period", period) if period else None
    if end is not None and (end.month, end.day) not in QUARTER_ENDS:
        raise invalid("period", f"{period} is not a quarter end; use YYYY0331, 0630, 0930 or 1231")
    known_on: date = parse_day("as_of", as_of) if as_of else now.date()
    records = statement_records(reader, ts_code, end, known_on)
    return _statements(reader, ts_code, records, period=end, as_of=known_on)


@router.get("/fundamentals", response_model=Statements)
def fundamentals_latest(reader: ReaderDep, ts_code: TsCode) -> Response:
    """The newest report period of one stock as currently known, restatements applied."""
    return _statements(reader, ts_code, statement_records(reader, ts_code, None, date.max))
