"""Reference tables refresh every morning, before the market opens."""

from dagster import AssetSelection, define_asset_job

from twilight_assets.scheduling import calendar_schedule, every_day

reference_job = define_asset_job("reference_refresh", AssetSelection.groups("reference"))

schedules = [
    calendar_schedule(
        "reference_daily",
        reference_job,
        "30 8 * * *",
        every_day,
        "stock_basic, trade_cal and index_basic every day at 08:30 (new listings, calendar).",
    )
]
