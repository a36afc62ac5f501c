"""What a backfill will cost before it runs: partitions, calls still needed, minutes at the budget.

The partitions come from the stored calendar, the already-fetched ones from the partition
ledger, and the calls from each table's own planner: the same code the assets run.
"""

from collections.abc import Callable
from dataclasses import dataclass

from twilight_assets.coverage import fetched_partitions
from twilight_assets.factory import UpstreamTable
from twilight_assets.financials.assets import TABLES as FINANCIAL_TABLES
from twilight_assets.financials.periods import quarter_ends
from twilight_assets.indexes.assets import TABLES as INDEX_TABLES
from twilight_assets.partitions import month_ends, report_periods, trade_dates, week_ends
from twilight_assets.prices.assets import TABLES as PRICE_TABLES
from twilight_assets.reference.assets import TABLES as REFERENCE_TABLES
from twilight_resources.calendar import TradingCalendar, from_key, to_key
from twilight_resources.settings import TwilightSettings
from twilight_resources.tushare.limits import ApiLimits
from twilight_resources.warehouse.writer import UNPARTITIONED

ALL_TABLES: dict[str, UpstreamTable] = {
    t.api: t for t in (*REFERENCE_TABLES, *PRICE_TABLES, *INDEX_TABLES)
}
# Planned on request (``--tables income,...``): refreshed by disclosures, not backfilled by default.
PLANNABLE: dict[str, UpstreamTable] = {**ALL_TABLES, **{t.api: t for t in FINANCIAL_TABLES}}


@dataclass(frozen=True)
class TablePlan:
    api: str
    partitions: int
    fetched: int
    calls: int


def partition_keys(table: UpstreamTable, cal: TradingCalendar, start: str, end: str) -> list[str]:
    """The table's partition keys in [start, end], as ``normalized/trade_cal`` registers them."""
    lo, hi = from_key(start), from_key(end)
    if table.partitions is None:
        return [UNPARTITIONED]
    if table.partitions is report_periods:
        days = quarter_ends(lo, hi)
    elif table.partitions is trade_dates:
        days = cal.open_days(lo, hi)
    else:
        period = "W" if table.partitions is week_ends else "M"
        assert table.partitions is month_ends or period == "W"
        days = [d for d in cal.period_ends(period, hi) if d >= lo]
    return [to_key(d) for d in days]


def plan_backfill(
    apis: list[str],
    start: str,
    end: str,
    settings: TwilightSettings,
    cal: TradingCalendar,
    on_table: Callable[[str, int], None] | None = None,
) -> list[TablePlan]:
    """Per table: partitions, fetched ones, calls left; ``on_table(api, tables done)`` after each
    (a table's planner may ask the upstream, e.g. for the stock list in ``stock`` mode)."""
    unknown = sorted(set(apis) - set(PLANNABLE))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; known: {sorted(PLANNABLE)}")
    plans = []
    for api in apis:
        table = PLANNABLE[api]
        keys = partition_keys(table, cal, start, end)
        done = set() if table.refresh else fetched_partitions(settings, f"raw_{api}", keys)
        todo = [k for k in keys if k not in done]
        calls = len(table.plan(todo, settings)) if todo else 0
        plans.append(TablePlan(api, len(keys), len(done), calls))
        if on_table:
            on_table(api, len(plans))
    return plans


def render(plans: list[TablePlan], limits: ApiLimits) -> str:
    """The plan as a table; APIs have budgets of their own and are fetched side by side."""
    lines = [f"{'table':<18}{'partitions':>11}{'fetched':>9}{'calls':>8}{'per min':>9}{'min':>7}"]
    minutes = {p.api: p.calls / limits.per_minute(p.api) for p in plans}
    lines += [
        f"{p.api:<18}{p.partitions:>11}{p.fetched:>9}{p.calls:>8}"
        f"{limits.per_minute(p.api):>9}{minutes[p.api]:>7.1f}"
        for p in plans
    ]
    total = sum(p.calls for p in plans)
    lines.append(
        f"total: {total} upstream calls, at least {max(minutes.values(), default=0):.1f} "
        f"minutes with the APIs side by side, {sum(minutes.values()):.1f} one after the other "
        "(pages beyond a row cap would add calls; rate refusals add a minute's pause each)"
    )
    return "\n".join(lines)
