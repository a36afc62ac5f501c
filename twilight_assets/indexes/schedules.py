"""Index refreshes (Asia/Shanghai): daily at 19:00, constituent weights on the 1st at 03:00."""

from twilight_assets.partitions import month_ends, trade_dates
from twilight_assets.scheduling import calendar_schedule, previous_month_end, table_job, trading_day

index_daily_job = table_job("index_daily", ["index_daily", "index_dailybasic"])
index_monthly_job = table_job("index_monthly", ["index_weight"])

schedules = [
    calendar_schedule(
        "index_daily_evening",
        index_daily_job,
        "0 19 * * *",
        trading_day,
        "index_daily and index_dailybasic for today at 19:00.",
        trade_dates,
    ),
    calendar_schedule(
        "index_monthly",
        index_monthly_job,
        "0 3 1 * *",
        previous_month_end,
        "index_weight of the month just ended, on the 1st at 03:00.",
        month_ends,
    ),
]
