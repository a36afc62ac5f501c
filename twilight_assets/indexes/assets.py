"""Index tables for the tracked indices (``TWILIGHT_INDEX_CODES``)."""

from __future__ import annotations

from twilight_assets.factory import UpstreamTable, build_table_assets
from twilight_assets.partitions import month_ends, trade_dates
from twilight_assets.planners import by_trade_date, per_index_over_range, per_index_per_month

TABLES = [
    UpstreamTable(
        api="index_daily",
        group="indexes",
        description="Index daily bars: one row per index and trading day.",
        plan=per_index_over_range("index_daily"),
        partitions=trade_dates,
        partition_column="trade_date",
    ),
    UpstreamTable(
        api="index_dailybasic",
        group="indexes",
        description="Index valuation: one row per index and trading day.",
        plan=by_trade_date("index_dailybasic"),
        partitions=trade_dates,
    ),
    UpstreamTable(
        api="index_weight",
        group="indexes",
        description="Index constituent weights: one row per index, stock and weighting date.",
        plan=per_index_per_month("index_weight"),
        partitions=month_ends,
    ),
]

assets = [a for table in TABLES for a in build_table_assets(table)]
