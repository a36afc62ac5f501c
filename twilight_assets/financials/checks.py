"""Asset checks only the financial tables get, run by the same probe runner as the others.

Balance sheets balance; every actual disclosure of a period has its income statement once the
statements were refreshed; forecasts and express reports come out before the report they
anticipate.
"""

from __future__ import annotations

from twilight_assets.checks import (
    CheckKind,
    Outcome,
    Scope,
    _offenders,
    _scalar,
    _verdict,
)

# Statements are rounded to two decimals per line: allow that per summed line, and 1e-6 of it.
BALANCE_REL_TOL = 1e-6
BALANCE_ABS_TOL = 0.05


def balance_sheet_balances(scope: Scope) -> Outcome:
    """total_assets = total_liab + total_hldr_eqy_inc_min_int within tolerance."""
    gap = "abs(total_assets - (total_liab + total_hldr_eqy_inc_min_int))"
    count, sample = _offenders(
        scope.reader,
        "SELECT ts_code, end_date, report_type, f_ann_date, total_assets, total_liab, "
        f"total_hldr_eqy_inc_min_int, {gap} AS gap FROM {scope.spec.name} "
        f"WHERE {gap} > $abs + $rel * abs(total_assets)",
        "gap DESC",
        {"abs": BALANCE_ABS_TOL, "rel": BALANCE_REL_TOL},
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=f"all {scope.rows} balance sheets balance (assets = liabilities + equity)",
        bad="balance sheet(s) where assets differ from liabilities + equity",
        counter="unbalanced",
    )


REFRESHED_DISCLOSURES = (
    "WITH refreshed AS (SELECT partition_key, max(written_at) AS at "
    "FROM meta_partition_latest WHERE table_name = 'normalized_income' "
    "GROUP BY partition_key) "
    "SELECT d.ts_code, d.end_date, d.actual_date FROM normalized_disclosure_date d "
    "JOIN refreshed r ON r.partition_key = strftime(d.end_date, '%Y%m%d') "
    "AND r.at >= d.ingested_at WHERE d.actual_date IS NOT NULL"
)


def disclosures_have_income(scope: Scope) -> Outcome:
    """Each actual disclosure has an income statement of that period.

    Only disclosures stored before their period's last income refresh count: one the calendar
    has just learnt of is the sensor's to fetch, not a fault yet.
    """
    checked = _scalar(scope.reader, f"SELECT count(*) FROM ({REFRESHED_DISCLOSURES})")
    count, sample = _offenders(
        scope.reader,
        f"SELECT * FROM ({REFRESHED_DISCLOSURES}) d WHERE NOT EXISTS (SELECT 1 "
        "FROM normalized_income i WHERE i.ts_code = d.ts_code AND i.end_date = d.end_date)",
        "end_date DESC, ts_code",
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=f"all {checked} actual disclosures of refreshed periods have their income statement",
        bad="actual disclosure(s) without an income statement after the refresh",
        counter="missing_statements",
        extra={"disclosures_checked": checked},
    )


def announced_before_report(scope: Scope) -> Outcome:
    """A forecast or express report dated after the report's first announcement is wrong."""
    count, sample = _offenders(
        scope.reader,
        "WITH first AS (SELECT ts_code, end_date, min(ann_date) AS report_ann "
        "FROM normalized_income GROUP BY ts_code, end_date) "
        f"SELECT n.ts_code, n.end_date, n.ann_date, f.report_ann FROM {scope.spec.name} n "
        "JOIN first f USING (ts_code, end_date) WHERE n.ann_date > f.report_ann",
        "end_date DESC, ts_code",
    )
    return _verdict(
        scope,
        count,
        sample,
        ok="every announcement precedes its report's first announcement",
        bad="announcement(s) dated after the report they anticipate",
        counter="late_announcements",
    )


KINDS = (
    CheckKind(
        "balances",
        "total_assets = total_liab + total_hldr_eqy_inc_min_int within "
        f"{BALANCE_ABS_TOL} + {BALANCE_REL_TOL:g} relative.",
        balance_sheet_balances,
    ),
    CheckKind(
        "disclosures_have_income",
        "Every actual disclosure of a period whose statements "
        "were refreshed since has its income statement.",
        disclosures_have_income,
    ),
    CheckKind(
        "announced_before_report",
        "Forecasts and express reports are dated before the report's first announcement.",
        announced_before_report,
    ),
)
