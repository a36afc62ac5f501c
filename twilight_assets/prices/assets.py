"""Stock price tables. Each is asked per trade date, which answers the whole market in one call."""

from __future__ import annotations

from twilight_assets.factory import UpstreamTable, build_table_assets
from twilight_assets.partitions import month_ends, trade_dates, week_ends
from twilight_assets.planners import by_trade_date
from twilight_assets.prices.fallback import AkshareFallback, count_sources

TABLES = [
    UpstreamTable(
        api="daily",
        group="prices",
        description="Unadjusted daily bars: one row per stock and trading day (none if suspended). "
        "Filled from AKShare (source='akshare') when Tushare cannot answer, per "
        "TWILIGHT_AKSHARE_MODE; a later Tushare refresh replaces those rows.",
        plan=by_trade_date("daily"),
        partitions=trade_dates,
        after_normalize=count_sources,
        alternate=AkshareFallback(),
    ),
    UpstreamTable(
        api="adj_factor",
        group="prices",
        description="Adjustment factors: one row per stock and trading day.",
        plan=by_trade_date("adj_factor"),
        partitions=trade_dates,
    ),
    UpstreamTable(
        api="daily_basic",
        group="prices",
        description="Daily valuation and turnover: one row per stock and trading day.",
        plan=by_trade_date("daily_basic"),
        partitions=trade_dates,
    ),
    UpstreamTable(
        api="weekly",
        group="prices",
        description="Weekly bars dated the week's last trading day: one row per stock and week.",
        plan=by_trade_date("weekly"),
        partitions=week_ends,
    ),
    UpstreamTable(
        api="monthly",
        group="prices",
        description="Monthly bars dated the month's last trading day: one row per stock and month.",
        plan=by_trade_date("monthly"),
        partitions=month_ends,
    ),
]

assets = [a for table in TABLES for a in build_table_assets(table)]
