"""Price refreshes (Asia/Shanghai): daily after the close, weekly on Monday, monthly on the 1st."""

from twilight_assets.partitions import month_ends, trade_dates, week_ends
from twilight_assets.scheduling import (
    calendar_schedule,
    previous_month_end,
    previous_week_end,
    table_job,
    trading_day,
)

daily_prices_job = table_job("daily_prices", ["daily", "adj_factor", "daily_basic"])
weekly_prices_job = table_job("weekly_prices", ["weekly"])
monthly_prices_job = table_job("monthly_prices", ["monthly"])

schedules = [
    calendar_schedule(
        "daily_prices_after_close",
        daily_prices_job,
        "0 18 * * *",
        trading_day,
        "daily, adj_factor, daily_basic for today at 18:00, after Tushare publishes them.",
        trade_dates,
    ),
    calendar_schedule(
        "weekly_prices",
        weekly_prices_job,
        "0 3 * * 1",
        previous_week_end,
        "weekly bars of the week just ended, Monday 03:00.",
        week_ends,
    ),
    calendar_schedule(
        "monthly_prices",
        monthly_prices_job,
        "30 2 1 * *",
        previous_month_end,
        "monthly bars of the month just ended, on the 1st at 02:30.",
        month_ends,
    ),
]
