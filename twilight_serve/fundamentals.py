"""Point-in-time financial statements: what was known about a stock on a given day.

The normalized T3 tables keep every announced version of a report (restatements have a later
``f_ann_date``), so "as of D" means: per report, the newest version announced on or before D.
Backtests must use this, not the ``*_latest`` views, or they see restated figures too early.
"""

from __future__ import annotations

from datetime import date
from operator import itemgetter
from typing import Any

import duckdb
import orjson
import pandas as pd

from twilight_resources.calendar import from_key, market_today
from twilight_resources.warehouse import WarehouseReader, statement_rows

# Table -> (announcement column that dates a version, columns one report is keyed by).
STATEMENTS: dict[str, tuple[str, str]] = {
    name: (known_on, "end_date" if name == "fina_indicator" else "end_date, report_type")
    for name, known_on in statement_rows.KNOWN_ON.items()
}


def _period(period: str | date | None) -> date | None:
    if period is None or isinstance(period, date):
        return period
    return from_key(period)


def latest_period(reader: WarehouseReader, ts_code: str, as_of: date) -> date | None:
    """The newest report period of ``ts_code`` with any statement announced by ``as_of``."""
    union = " UNION ALL ".join(
        f"SELECT end_date FROM normalized_{table} WHERE ts_code = $code AND {ann} <= $as_of"
        for table, (ann, _) in STATEMENTS.items()
    )
    frame = reader.query(
        f"SELECT max(end_date) AS p FROM ({union})", {"code": ts_code, "as_of": as_of}
    )
    value = frame["p"].iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value).date()


def _known_sql(table: str, columns: str = "*") -> str:
    """The rows of one stock's report known on a day: per report, its newest version."""
    ann, key = STATEMENTS[table]
    return (
        f"SELECT {columns} FROM normalized_{table} "
        f"WHERE ts_code = $code AND end_date = $end AND {ann} <= $as_of "
        f"QUALIFY row_number() OVER (PARTITION BY {key} "
        f"ORDER BY {ann} DESC, ann_date DESC NULLS LAST) = 1 "
        f"ORDER BY {key}"
    )


def _arguments(
    reader: WarehouseReader, ts_code: str, period: str | date | None, as_of: date | None
) -> dict[str, object]:
    as_of = as_of or market_today()
    end = _period(period) or latest_period(reader, ts_code, as_of)
    return {"code": ts_code, "end": end, "as_of": as_of}


def statements_as_of(
    reader: WarehouseReader,
    ts_code: str,
    period: str | date | None = None,
    as_of: date | None = None,
) -> dict[str, pd.DataFrame]:
    """Per table, the version of ``ts_code``'s report for ``period`` known on ``as_of``.

    ``period`` (a quarter end, ``YYYYMMDD`` or a date) defaults to the newest period known on
    ``as_of``; ``as_of`` defaults to today on the exchange. Statements give one row per report
    type, ``fina_indicator`` one row; a table with nothing known yet gives an empty frame.
    """
    args = _arguments(reader, ts_code, period, as_of)
    return {table: reader.query(_known_sql(table), args) for table in STATEMENTS}


class _LayoutMismatch(Exception):
    """Rows built with other columns than this process's DDL declares (another version)."""


ROWS_SQL = (
    f"SELECT statement, report_type, known_on, vals FROM {statement_rows.ROWS} "
    "WHERE ts_code = $code AND end_date = $end AND known_on <= $as_of"
)
PERIOD_SQL = (
    f"SELECT max(end_date) AS p FROM {statement_rows.ROWS} "
    "WHERE ts_code = $code AND known_on <= $as_of"
)


def statement_records(
    reader: WarehouseReader,
    ts_code: str,
    period: str | date | None = None,
    as_of: date | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`statements_as_of` as one dict per row for a JSON answer, dates as YYYYMMDD and
    without the lineage columns (which fetch and when a row arrived).

    Read from the row-shaped copy (:mod:`~twilight_resources.warehouse.statement_rows`): a
    wide row costs milliseconds per table to fetch, a row there a fraction of one. Without
    SQL windows or sorts, which cost more than the scan here. A snapshot without that copy
    (published before it existed) or built by another version's DDL is read from the tables.
    """
    as_of = as_of or market_today()
    end = _period(period)
    try:
        return _from_rows(reader, ts_code, end, as_of)
    except (duckdb.CatalogException, _LayoutMismatch):
        return _from_tables(reader, ts_code, end, as_of)


def _from_rows(
    reader: WarehouseReader, ts_code: str, end: date | None, as_of: date
) -> dict[str, list[dict[str, Any]]]:
    if end is None:
        (row,) = reader.records(PERIOD_SQL, {"code": ts_code, "as_of": as_of})
        end = row["p"]
    answer: dict[str, list[dict[str, Any]]] = {statement: [] for statement in STATEMENTS}
    if end is None:
        return answer
    rows = reader.records(ROWS_SQL, {"code": ts_code, "end": end, "as_of": as_of})
    newest: dict[tuple[str, str], str] = {}  # per report, its newest version known on as_of
    for row in sorted(rows, key=itemgetter("statement", "report_type", "known_on")):
        newest[row["statement"], row["report_type"]] = row["vals"]
    for (statement, _), vals in sorted(newest.items()):
        names, values = statement_rows.columns(statement), orjson.loads(vals)
        if len(values) != len(names):
            raise _LayoutMismatch(statement)
        answer[statement].append(dict(zip(names, values, strict=True)))
    return answer


def _from_tables(
    reader: WarehouseReader, ts_code: str, end: date | None, as_of: date
) -> dict[str, list[dict[str, Any]]]:
    args = _arguments(reader, ts_code, end, as_of)
    columns = f"* EXCLUDE ({', '.join(statement_rows.HIDDEN)})"
    return {
        table: [
            {k: f"{v:%Y%m%d}" if isinstance(v, date) else v for k, v in row.items()}
            for row in reader.records(_known_sql(table, columns), args)
        ]
        for table in STATEMENTS
    }


def latest_statements(reader: WarehouseReader, ts_code: str) -> dict[str, pd.DataFrame]:
    """The newest period of ``ts_code`` as currently known, restatements applied."""
    return statements_as_of(reader, ts_code, None, date.max)
