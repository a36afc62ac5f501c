"""How a set of partition keys becomes upstream calls, one shape per way Tushare is asked.

Each planner returns the fewest calls that cover the keys: a whole market per trade_date where the
API allows it, a whole date range per code where it requires a code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from twilight_resources.catalog import PlannerKind, Table
from twilight_resources.settings import TwilightSettings
from twilight_resources.tushare import TushareRequest
from twilight_resources.warehouse.writer import UNPARTITIONED

Planner = Callable[[Sequence[str], TwilightSettings], list[TushareRequest]]


def by_trade_date(api: str) -> Planner:
    """One call per trade date, answering every stock (or index) that traded that day."""

    def plan(keys: Sequence[str], settings: TwilightSettings) -> list[TushareRequest]:
        return [TushareRequest(api, {"trade_date": k}, tag=k) for k in keys]

    return plan


def per_index_over_range(api: str) -> Planner:
    """One call per tracked index over the whole key range (APIs that require a code)."""

    def plan(keys: Sequence[str], settings: TwilightSettings) -> list[TushareRequest]:
        start, end = min(keys), max(keys)
        return [
            TushareRequest(api, {"ts_code": code, "start_date": start, "end_date": end})
            for code in settings.index_codes
        ]

    return plan


def per_index_per_month(api: str) -> Planner:
    """One call per tracked index and month (index_weight is published monthly)."""

    def plan(keys: Sequence[str], settings: TwilightSettings) -> list[TushareRequest]:
        return [
            TushareRequest(
                api, {"index_code": code, "start_date": k[:6] + "01", "end_date": k}, tag=k
            )
            for k in keys
            for code in settings.index_codes
        ]

    return plan


def snapshot(api: str, variants: Sequence[Mapping[str, Any]] = ({},)) -> Planner:
    """Unpartitioned reference tables: one call per parameter variant."""

    def plan(keys: Sequence[str], settings: TwilightSettings) -> list[TushareRequest]:
        return [TushareRequest(api, dict(v), tag=UNPARTITIONED) for v in variants]

    return plan


def calendar_span(api: str) -> Planner:
    """Both exchanges' calendars from the history start to the end of next year."""

    def plan(keys: Sequence[str], settings: TwilightSettings) -> list[TushareRequest]:
        end = f"{date.today().year + 1}1231"
        return [
            TushareRequest(
                api,
                {"exchange": exchange, "start_date": settings.history_start, "end_date": end},
                tag=UNPARTITIONED,
            )
            for exchange in ("SSE", "SZSE")
        ]

    return plan


def by_end_date(api: str) -> Planner:
    """One call per report period for the whole market (the disclosure calendar)."""

    def plan(keys: Sequence[str], settings: TwilightSettings) -> list[TushareRequest]:
        return [TushareRequest(api, {"end_date": k}, tag=k) for k in keys]

    return plan


Seen = dict[str, dict[str, str]]  # period -> ts_code -> actual disclosure date


def actual_disclosures(settings: TwilightSettings, periods: Sequence[str]) -> Seen:
    """Stored actual disclosures of ``periods``, from the published snapshot."""
    from twilight_resources.warehouse import WarehouseReader
    from twilight_resources.warehouse.snapshots import read_pointer

    if read_pointer(settings.warehouse_file) is None or not periods:
        return {}
    with WarehouseReader.from_settings(settings, pool_size=1) as reader:
        frame = reader.query(
            "SELECT strftime(end_date, '%Y%m%d') AS period, ts_code, "
            "strftime(actual_date, '%Y%m%d') AS actual FROM normalized_disclosure_date "
            "WHERE actual_date IS NOT NULL "
            "AND list_contains(CAST(? AS VARCHAR[]), strftime(end_date, '%Y%m%d'))",
            [list(periods)],
        )
    seen: Seen = {}
    for period, code, actual in frame.itertuples(index=False, name=None):
        seen.setdefault(period, {})[code] = actual
    return seen


def reported_stocks(settings: TwilightSettings, periods: Sequence[str]) -> dict[str, list[str]]:
    """Per period, the stocks whose actual disclosure the stored calendar shows (sorted)."""
    return {p: sorted(codes) for p, codes in actual_disclosures(settings, periods).items()}


def financial_report(api: str) -> Planner:
    """A report table by period, shaped by ``TWILIGHT_FINANCIALS_MODE``.

    ``period``: one ``<api>_vip`` call per period answers every stock (paged past the row cap).
    ``stock``: without the vip permission, one ``<api>`` call per stock and period, only for the
    stocks the stored disclosure calendar says have reported: the others have nothing to answer.
    """

    def plan(keys: Sequence[str], settings: TwilightSettings) -> list[TushareRequest]:
        if settings.financials_mode == "period":
            return [TushareRequest(f"{api}_vip", {"period": k}, tag=k) for k in keys]
        reported = reported_stocks(settings, keys)
        return [
            TushareRequest(api, {"ts_code": code, "period": k}, tag=k)
            for k in keys
            for code in reported.get(k, [])
        ]

    return plan


def planner_for(table: Table) -> Planner:
    """The planner a catalog entry names, calling the API it names."""
    api = table.calls
    match table.planner:
        case PlannerKind.BY_TRADE_DATE:
            return by_trade_date(api)
        case PlannerKind.PER_INDEX_OVER_RANGE:
            return per_index_over_range(api)
        case PlannerKind.PER_INDEX_PER_MONTH:
            return per_index_per_month(api)
        case PlannerKind.SNAPSHOT:
            return snapshot(api, table.variants)
        case PlannerKind.CALENDAR_SPAN:
            return calendar_span(api)
        case PlannerKind.BY_END_DATE:
            return by_end_date(api)
        case PlannerKind.FINANCIAL_REPORT:
            return financial_report(api)
