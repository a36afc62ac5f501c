"""Requests the test warehouse covers (one per table tool), and ones it does not."""

from typing import Any

INDEX = "000300.SH"
PERIOD = "20240331"
# Few companies pre-announce a first quarter: fetched after the window closed, empty is final.
EMPTY_PERIOD = {"forecast", "express"}
IN_RANGE = {"start_date": "20240325", "end_date": "20240419"}


def hit_cases(stock: str) -> dict[str, dict[str, Any]]:
    """Arguments of each of the eighteen table tools that the warehouse answers in full."""
    bars = {"ts_code": stock, **IN_RANGE}
    return {
        "stock_basic": {"list_status": "L"},
        "trade_cal": {"start_date": "20240301", "end_date": "20240331"},
        "index_basic": {},
        "daily": bars,
        "weekly": bars,
        "monthly": bars,
        "adj_factor": bars,
        "daily_basic": bars,
        "index_daily": {"ts_code": INDEX, **IN_RANGE},
        "index_dailybasic": {"trade_date": "20240415"},
        # Weights are stored per month: March is held whole, April is not.
        "index_weight": {"index_code": INDEX, "start_date": "20240301", "end_date": "20240329"},
        "income": {"period": PERIOD},
        "balancesheet": {"ts_code": stock, "period": PERIOD},
        "cashflow": {"period": PERIOD},
        "fina_indicator": {"ts_code": stock, "period": PERIOD},
        "forecast": {"period": PERIOD},
        "express": {"period": PERIOD},
        "disclosure_date": {"end_date": PERIOD},
    }


def miss_cases(stock: str) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    """Arguments the warehouse does not cover, with the upstream calls each must spend."""
    return {
        # Straddles the last fetched day: a partial hit goes live in full, in one call.
        "daily": ({"ts_code": stock, "start_date": "20240415", "end_date": "20240426"},
                  {"daily": 1}),
        "adj_factor": ({"ts_code": stock, "trade_date": "20240515"}, {"adj_factor": 1}),
        "weekly": ({"ts_code": stock, "start_date": "20240501", "end_date": "20240524"},
                   {"weekly": 1}),
        "index_daily": ({"ts_code": "000016.SH", "trade_date": "20240415"}, {"index_daily": 1}),
        # No period: statements are stored by period, so this is asked of the whole-market API.
        "income": ({"ts_code": stock, "start_date": "20240101", "end_date": "20240430"},
                   {"income": 1}),
        "disclosure_date": ({"end_date": "20231231"}, {"disclosure_date": 1}),
        # A period the warehouse lacks, for the whole market: Tushare's per-period vip API.
        "cashflow": ({"period": "20231231"}, {"cashflow_vip": 1}),
        "index_weight": ({"index_code": INDEX, "start_date": "20240325", "end_date": "20240419"},
                         {"index_weight": 1}),
    }  # fmt: skip


BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    (
        "daily",
        {"ts_code": "600000", "trade_date": "20240415"},
        "ts_code: '600000' is not valid; expected stock code",
    ),
    (
        "daily",
        {"ts_code": "600000.SH", "trade_date": "2024-04-15"},
        "trade_date: '2024-04-15' is not valid; expected one trading day, YYYYMMDD",
    ),
    ("daily", {"ts_code": "600000.SH", "trade_date": "20240231"}, "not a calendar date"),
    ("daily", {"start_date": "20240430", "end_date": "20240301"}, "swap them"),
    ("income", {"period": "20240415"}, "quarter end"),
    ("daily", {"trade_date": "20240415", "fields": "ts_code,closing"}, "unknown field"),
    ("index_weight", {"trade_date": "20240415"}, "index_code"),
    ("daily", {"trade_date": "20240415", "limit": 0}, "limit"),
    ("query", {"api_name": "DROP TABLE"}, "api_name"),
]
