"""Partitions, declared once. Each follows what the upstream is cheapest to ask by.

- ``trade_dates``: one open day of the exchange. ``daily``, ``adj_factor``, ``daily_basic`` and
  ``index_dailybasic`` answer a whole market for one trade_date in a single call (5,000 stocks fit
  under the 6,000-row cap), so a day is one call however many stocks there are.
- ``week_ends`` / ``month_ends``: the last open day of each week or month; ``weekly`` and
  ``monthly`` answer a whole market for that trade_date in one call; ``index_weight`` is asked
  per index for a month.
- ``report_periods``: quarter ends (20240331, ...). The financial tables and the disclosure
  calendar follow company reports, which Tushare answers for a whole market per period
  (``*_vip``) or per stock and period.
All four are dynamic: the ``normalized/trade_cal`` asset adds keys from the stored calendar, so
holidays and weekends never become partitions and never cost a call; quarter ends are added up
to the upstream's today, so no period is asked before it has ended.
"""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition

from twilight_resources.catalog import Grain

trade_dates = DynamicPartitionsDefinition(name="trade_dates")
week_ends = DynamicPartitionsDefinition(name="week_ends")
month_ends = DynamicPartitionsDefinition(name="month_ends")
report_periods = DynamicPartitionsDefinition(name="report_periods")


def partitions_for(grain: Grain) -> DynamicPartitionsDefinition | None:
    """The partition set of a catalog grain."""
    sets = {p.name: p for p in (trade_dates, week_ends, month_ends, report_periods)}
    return None if grain.partition_set is None else sets[grain.partition_set]
