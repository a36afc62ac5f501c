"""Cross-source verification: the warehouse's daily bars against AKShare's, after each refresh.

For the trade dates of the run (or the newest stored one), ``TWILIGHT_QUALITY_DIFF_SAMPLE``
stocks of ``normalized_daily`` (0: all) are asked from AKShare, one ``stock_zh_a_hist`` call
per stock over the dates. The sample is drawn by a hash salted with the first date, so each
day's check asks other stocks and a few weeks of checks cover the market, without spending a
call per stock per day on a source that throttles bulk readers. Close, vol and amount are
compared in Tushare's units. Disagreements go to ``quality_diff`` (an asset check has no
output for the IO manager, so it writes its own transaction through
``WarehouseWriter.transaction``) and critical ones to ``TWILIGHT_ALERT_WEBHOOK_URL``; an
unreachable webhook is logged and never fails the run. Rows the fallback filled from AKShare
are skipped: comparing a source with itself proves nothing.
"""

import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    DagsterRun,
    MetadataValue,
    asset_check,
)

from twilight_assets.checks import run_dates
from twilight_resources.akshare.client import AkshareUnavailableError
from twilight_resources.akshare.settings import client_from_settings
from twilight_resources.catalog import check_writes
from twilight_resources.logs import redact, register_secret
from twilight_resources.providers.akshare import AkshareDailyProvider
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.warehouse import SnapshotUnavailableError, WarehouseReader
from twilight_resources.warehouse.frames import utc_now
from twilight_resources.warehouse.io_manager import markdown_table, run_tables
from twilight_resources.warehouse.ledger import PartitionCounts, allocate, record_write
from twilight_resources.warehouse.schema import table_spec
from twilight_resources.warehouse.writer import UNPARTITIONED, WarehouseWriter

log = logging.getLogger(__name__)

FIELDS = ("close", "vol", "amount")
# Differences no source can avoid: prices to the fen, Eastmoney's whole lots against Tushare's
# two decimals, amounts to the yuan (Tushare's thousand yuan with three decimals).
ABS_TOL = {"close": 0.005, "vol": 0.5, "amount": 0.0015}
DIFF_COLUMNS = (
    "trade_date", "ts_code", "field", "warehouse_value", "akshare_value", "rel_diff", "severity",
)  # fmt: skip
WEBHOOK_TIMEOUT_S = 5.0
CHECK_KEY = "normalized/daily:cross_source"  # its ledger rows' asset key


def sample_codes(codes: Sequence[str], size: int, salt: str = "") -> list[str]:
    """All codes, or ``size`` of them chosen by a hash of ``salt`` and the code.

    The same salt draws the same stocks (a rerun checks what the run checked); another salt
    draws others.
    """
    ordered = sorted(set(codes))
    if size <= 0 or size >= len(ordered):
        return ordered
    rank = sorted(ordered, key=lambda c: hashlib.sha256(f"{salt}:{c}".encode()).hexdigest())
    return sorted(rank[:size])


def compare(
    warehouse: pd.DataFrame, akshare: pd.DataFrame, warn: float, critical: float
) -> pd.DataFrame:
    """Disagreeing (day, stock, field) rows; a bar AKShare lacks is a ``missing`` row."""
    keys = ["ts_code", "trade_date"]
    merged = warehouse[[*keys, *FIELDS]].merge(
        akshare[[*keys, *FIELDS]], on=keys, how="left", suffixes=("_w", "_a"), indicator=True
    )
    rows = []
    for field in FIELDS:
        w, a = merged[f"{field}_w"].astype(float), merged[f"{field}_a"].astype(float)
        gap = (a - w).abs()
        rel = gap / w.abs().where(w != 0, np.nan)
        # A zero on the warehouse side: any real gap is infinitely far, no gap is agreement.
        rel = rel.fillna(pd.Series(np.where(gap > ABS_TOL[field], np.inf, 0.0), index=rel.index))
        severity = np.select(
            [merged["_merge"] == "left_only", rel > critical, rel > warn],
            ["missing", "critical", "warning"],
            default="",
        )
        severity = np.where((gap <= ABS_TOL[field]) & (merged["_merge"] == "both"), "", severity)
        frame = pd.DataFrame(
            {
                "trade_date": merged["trade_date"],
                "ts_code": merged["ts_code"],
                "field": field,
                "warehouse_value": w,
                "akshare_value": a,
                "rel_diff": rel.replace(np.inf, np.nan),
                "severity": severity,
            }
        )
        rows.append(frame[frame["severity"] != ""])
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=DIFF_COLUMNS)


def post_webhook(url: str | None, critical: pd.DataFrame) -> bool:
    """Post critical disagreements; False (logged, never raised) if it cannot be delivered."""
    if not url or critical.empty:
        return False
    register_secret(url)  # webhook URLs often embed a key (Slack, Feishu): never log one
    # pandas-stubs' Scalar leaves out None, which where() takes as the fill value.
    cells = critical.astype(object).where(critical.notna(), None)  # type: ignore[call-overload]
    rows = cells.to_dict("records")
    payload = {
        "event": "cross_source_disagreement",
        "source": "akshare",
        "critical": len(rows),
        "rows": [{k: str(v) if isinstance(v, date) else v for k, v in r.items()} for r in rows],
    }
    try:
        response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_S)
        response.raise_for_status()
    except Exception as exc:  # the run must not fail because the alert channel is down
        log.warning("alert webhook failed: %s", redact(f"{type(exc).__name__}: {exc}"))
        return False
    return True


def _resolved(
    reader: WarehouseReader, diffs: pd.DataFrame, start: date, end: date, codes: list[str]
) -> pd.DataFrame:
    """Stored disagreements of the compared stocks and days that the new check no longer finds."""
    try:
        old = reader.query(
            "SELECT trade_date, ts_code, field, warehouse_value, akshare_value FROM quality_diff "
            "WHERE trade_date BETWEEN ? AND ? "
            "AND list_contains(CAST(? AS VARCHAR[]), ts_code)",
            [start, end, codes],
        )
    except Exception:  # a snapshot from before quality_diff existed
        return pd.DataFrame(columns=DIFF_COLUMNS)
    if old.empty:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    old["trade_date"] = old["trade_date"].dt.strftime("%Y%m%d")
    found = set(zip(diffs["trade_date"], diffs["ts_code"], diffs["field"], strict=True))
    keep = [
        (d, c, f) not in found
        for d, c, f in zip(old["trade_date"], old["ts_code"], old["field"], strict=True)
    ]
    old = old[keep].copy()
    old["rel_diff"], old["severity"] = 0.0, "resolved"
    return old


def store_diffs(
    settings: TwilightSettings,
    rows: pd.DataFrame,
    start: date,
    end: date,
    codes: list[str],
    run: DagsterRun | None = None,
) -> None:
    """Replace the stored rows of the compared stocks and days with ``rows``, atomically.

    From a run, the same transaction records the run's ledger row for ``quality_diff`` (also
    when nothing was compared): the run counts this check among its writes, so whichever of
    them comes last publishes the snapshot, once (``run_tables``).
    """
    columns = list(table_spec("quality_diff").columns)
    writer = WarehouseWriter.from_settings(settings)
    run_id, tables = (run.run_id, run_tables(run, check_writes())) if run else (None, ())
    changed = ("quality_diff", "meta_partition_ledger", "meta_counters")
    with writer.transaction(changed, run_id=run_id, run_tables=tables) as conn:
        if codes:
            conn.execute(
                "DELETE FROM quality_diff WHERE trade_date BETWEEN ? AND ? "
                "AND list_contains(CAST(? AS VARCHAR[]), ts_code)",
                [start, end, codes],
            )
        if codes and not rows.empty:
            conn.register("diff_rows", rows[columns])
            conn.execute(f"INSERT INTO quality_diff SELECT {', '.join(columns)} FROM diff_rows")
            conn.unregister("diff_rows")
        if run is not None:
            record_write(
                conn,
                table="quality_diff",
                write_id=allocate(conn, "write_id", 1),
                written_at=utc_now(),
                counts={UNPARTITIONED: PartitionCounts(rows=len(rows) if codes else 0)},
                run_id=run.run_id,
                asset_key=CHECK_KEY,
            )


def verify_daily(
    settings: TwilightSettings, dates: tuple[str, str] | None = None, run: DagsterRun | None = None
) -> tuple[pd.DataFrame, dict[str, str | float]]:
    """Compare, store and alert; returns the stored rows and figures for the check's metadata."""
    started = time.monotonic()
    provider = AkshareDailyProvider(client_from_settings(settings, lazy=True))
    with WarehouseReader.from_settings(settings, pool_size=1) as reader:
        if dates is None:
            newest = reader.query(
                "SELECT strftime(max(trade_date), '%Y%m%d') FROM normalized_daily"
            )
            day = newest.iloc[0, 0]
            if not isinstance(day, str):
                return pd.DataFrame(columns=DIFF_COLUMNS), {"compared_rows": 0}
            dates = (day, day)
        start, end = (datetime.strptime(d, "%Y%m%d").date() for d in dates)
        warehouse = reader.query(
            "SELECT ts_code, strftime(trade_date, '%Y%m%d') AS trade_date, close, vol, amount "
            "FROM normalized_daily WHERE trade_date BETWEEN ? AND ? "
            "AND coalesce(source, 'tushare') <> 'akshare'",
            [start, end],
        )
        asked = sample_codes(
            warehouse["ts_code"].tolist(), settings.quality_diff_sample, salt=dates[0]
        )
        frames, failed = provider.daily_many(asked, start, end, settings.akshare_max_in_flight)
        good = [f for f in frames if not f.empty]
        akshare = (
            pd.concat(good, ignore_index=True)
            if good
            else pd.DataFrame(columns=["ts_code", "trade_date", *FIELDS])
        )
        if asked and len(failed) == len(asked):
            raise AkshareUnavailableError(f"every one of {len(asked)} AKShare calls failed")
        codes = sorted(set(asked) - set(failed))
        warehouse = warehouse[warehouse["ts_code"].isin(codes)]
        diffs = compare(
            warehouse, akshare, settings.quality_diff_warn, settings.quality_diff_critical
        )
        diffs = pd.concat([diffs, _resolved(reader, diffs, start, end, codes)], ignore_index=True)
    stored = diffs.copy()
    stored["trade_date"] = pd.to_datetime(stored["trade_date"], format="%Y%m%d").dt.date
    stored["checked_at"] = datetime.now(UTC).replace(tzinfo=None)
    stored["source"] = "akshare"
    store_diffs(settings, stored, start, end, codes, run)
    critical = stored[stored["severity"] == "critical"]
    posted = post_webhook(
        settings.alert_webhook_url, critical.drop(columns=["checked_at", "source"])
    )
    figures: dict[str, str | float] = {
        "dates": f"{dates[0]}..{dates[1]}",
        "compared_stocks": len(codes),
        "compared_rows": len(warehouse),
        "akshare_calls": len(asked),
        "akshare_failed_calls": len(failed),
        **{s: int((diffs["severity"] == s).sum()) for s in ("critical", "warning", "missing")},
        "resolved": int((diffs["severity"] == "resolved").sum()),
        "webhook_posted": posted,
        "seconds": round(time.monotonic() - started, 3),
    }
    return stored, figures


def _nothing_compared(settings: TwilightSettings, run: DagsterRun) -> None:
    """Record the check's write for the run when it compared nothing (see ``store_diffs``)."""
    today = datetime.now(UTC).date()
    store_diffs(settings, pd.DataFrame(columns=list(DIFF_COLUMNS)), today, today, [], run)


@asset_check(
    asset=AssetKey(["normalized", "daily"]),
    name="cross_source",
    blocking=False,
    description="close, vol and amount agree with AKShare's bars of the same day (a sample of "
    "TWILIGHT_QUALITY_DIFF_SAMPLE stocks drawn anew each day; 0: all); disagreements in "
    "quality_diff, critical ones posted to TWILIGHT_ALERT_WEBHOOK_URL.",
)
def cross_source(context: AssetCheckExecutionContext) -> AssetCheckResult:
    settings = get_settings()
    if not settings.akshare_enabled:
        _nothing_compared(settings, context.run)
        return AssetCheckResult(
            passed=True, description="AKShare disabled (TWILIGHT_AKSHARE_ENABLED)"
        )
    try:
        stored, figures = verify_daily(settings, run_dates(context), context.run)
    except (AkshareUnavailableError, SnapshotUnavailableError) as exc:
        _nothing_compared(settings, context.run)
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description=f"not verified: {exc}",
        )
    open_rows = stored[stored["severity"] != "resolved"] if not stored.empty else stored
    critical = int(figures.get("critical", 0))
    metadata: dict[str, MetadataValue[Any] | str | float] = {
        k: MetadataValue.int(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in figures.items()
    }
    if not open_rows.empty:
        shown = open_rows[list(DIFF_COLUMNS)].head(10)
        metadata["disagreements"] = MetadataValue.md(markdown_table(shown))
    return AssetCheckResult(
        passed=open_rows.empty,
        severity=AssetCheckSeverity.ERROR if critical else AssetCheckSeverity.WARN,
        description=f"{len(open_rows)} disagreements ({critical} critical) over "
        f"{figures['compared_rows']} bars",
        metadata=metadata,
    )


checks = [cross_source]
