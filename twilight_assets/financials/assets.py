"""Financial statements (T3) and the disclosure calendar, partitioned by report period.

All seven tables are ``refresh`` tables: a period's answer grows as companies disclose (and
restate), so every run fetches it again instead of resuming from what the warehouse holds.
The statements are asked per period (``*_vip``) or per reported stock, by
``TWILIGHT_FINANCIALS_MODE``; the disclosure calendar is one call per period either way.
"""

from __future__ import annotations

from twilight_assets.factory import UpstreamTable, build_table_assets
from twilight_assets.partitions import report_periods
from twilight_assets.planners import by_end_date, financial_report

GROUP = "financials"

STATEMENT_TABLES = {
    "income": "Income statements: one row per stock, period, report type and announcement.",
    "balancesheet": "Balance sheets: one row per stock, period, report type and announcement.",
    "cashflow": "Cash-flow statements: one row per stock, period, report type and announcement.",
    "fina_indicator": "Financial indicators: one row per stock, period and announcement.",
    "forecast": "Earnings forecasts (业绩预告): one row per stock, period and announcement.",
    "express": "Earnings express reports (业绩快报): one row per stock, period and announcement.",
}

DISCLOSURE = UpstreamTable(
    api="disclosure_date",
    group=GROUP,
    description="Disclosure calendar: planned and actual report dates, one row per stock "
    "and period.",
    plan=by_end_date("disclosure_date"),
    partitions=report_periods,
    refresh=True,
)

TABLES = [
    DISCLOSURE,
    *(
        UpstreamTable(
            api=api,
            group=GROUP,
            description=description,
            plan=financial_report(api),
            partitions=report_periods,
            refresh=True,
            extra_deps=("disclosure_date",),  # stock mode asks the stocks it shows reported
        )
        for api, description in STATEMENT_TABLES.items()
    ),
]

assets = [a for table in TABLES for a in build_table_assets(table)]
