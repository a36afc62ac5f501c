"""Reference tables are unpartitioned: each refresh fetches the whole (small) table again.

``normalized/trade_cal`` also turns the stored calendar into the trade-date, week-end and
month-end partitions every price table uses, so the partitions are always the market's own, and
adds the report periods (quarter ends) that have ended by the upstream's today.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dagster import AssetExecutionContext

from twilight_assets.partitions import month_ends, report_periods, trade_dates, week_ends
from twilight_resources.calendar import calendar_from_frame, from_key, to_key
from twilight_resources.periods import quarter_ends
from twilight_resources.settings import get_settings
from twilight_resources.tushare.resource import upstream_today


def register_partitions(context: AssetExecutionContext, clean: pd.DataFrame) -> None:
    """Add every open day (week/month end, quarter end) up to today as a partition, once."""
    settings = get_settings()
    cal = calendar_from_frame(clean[clean["exchange"] == settings.market_exchange])
    start, today = from_key(settings.history_start), upstream_today(settings)
    wanted = {
        trade_dates: cal.open_days(start, today),
        week_ends: [d for d in cal.period_ends("W", today) if d >= start],
        month_ends: [d for d in cal.period_ends("M", today) if d >= start],
        report_periods: quarter_ends(start, today - timedelta(days=1)),  # ended periods
    }
    for partitions, days in wanted.items():
        assert partitions.name is not None
        known = set(context.instance.get_dynamic_partitions(partitions.name))
        new = [to_key(d) for d in days if to_key(d) not in known]
        if new:
            context.instance.add_dynamic_partitions(partitions.name, new)
        context.log.info("%s: %d partitions, %d new", partitions.name, len(days), len(new))
