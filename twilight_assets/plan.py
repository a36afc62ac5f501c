"""What a backfill will cost before it runs: partitions, calls still needed, minutes at the budget.

The partitions come from the stored calendar, the already-fetched ones from the partition
ledger, and the calls from each table's own planner: the same code the assets run.
"""

from collections.abc import Callable
from dataclasses import dataclass

from twilight_assets.coverage import fetched_partitions
from twilight_assets.factory import UpstreamTable
from twilight_assets.tables import TABLES, upstream_tables
from twilight_resources.calendar import TradingCalendar
from twilight_resources.catalog import CATALOG, Catalog, range_keys
from twilight_resources.settings import TwilightSettings
from twilight_resources.tushare.limits import ApiLimits

# Backfilled by default; refresh tables (the financials) are planned on request
# (``--tables income,...``): disclosures refresh them.
ALL_TABLES: dict[str, UpstreamTable] = {api: t for api, t in TABLES.items() if not t.refresh}
PLANNABLE: dict[str, UpstreamTable] = TABLES


@dataclass(frozen=True)
class TablePlan:
    api: str
    partitions: int
    fetched: int
    calls: int


def plan_backfill(
    apis: list[str],
    start: str,
    end: str,
    settings: TwilightSettings,
    cal: TradingCalendar,
    on_table: Callable[[str, int], None] | None = None,
    catalog: Catalog = CATALOG,
) -> list[TablePlan]:
    """Per table: partitions, fetched ones, calls left; ``on_table(api, tables done)`` after each
    (a table's planner may ask the upstream, e.g. for the stock list in ``stock`` mode)."""
    tables = TABLES if catalog is CATALOG else upstream_tables(catalog)
    unknown = sorted(set(apis) - set(tables))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; known: {sorted(tables)}")
    plans = []
    for api in apis:
        table = tables[api]
        keys = range_keys(catalog[api], cal, start, end)
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
