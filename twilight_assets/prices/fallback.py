"""Daily bars from AKShare when Tushare cannot answer them (``TWILIGHT_AKSHARE_MODE``).

``off``: Tushare only. ``fallback`` (default): when Tushare answers that the token has no
permission for ``daily`` (code 40203) or stays down past its retries, the partitions it did not
answer are filled from AKShare. ``prefer``: AKShare first, Tushare for what AKShare cannot answer.

Every filled row carries ``source='akshare'`` (in the raw table's ``extra_fields``, then in
``normalized_daily.source``), the normalized asset's metadata counts rows per source, and in
``off``/``fallback`` mode a partition held from AKShare is not "fetched": the next refresh asks
Tushare again and its answer replaces AKShare's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue

from twilight_resources.akshare.client import AkshareUnavailableError
from twilight_resources.akshare.settings import client_from_settings
from twilight_resources.providers.akshare import AkshareDailyProvider
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.tushare import (
    TushareClient,
    TusharePermissionError,
    TushareRequest,
    TushareRetriesExhausted,
)
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.snapshots import read_pointer

log = logging.getLogger(__name__)

AKSHARE = "akshare"
TUSHARE = "tushare"
# What makes Tushare's answer unobtainable for this token now, rather than a bug in the call.
FALLBACK_ERRORS = (TusharePermissionError, TushareRetriesExhausted)
Answers = Iterator[tuple[TushareRequest, pd.DataFrame]]


def _codes(settings: TwilightSettings) -> list[str]:
    """The stocks to ask AKShare for: the listed ones in the stored ``stock_basic``."""
    if read_pointer(settings.warehouse_file) is None:
        return []
    with WarehouseReader.from_settings(settings, pool_size=1) as reader:
        try:
            frame = reader.query(
                "SELECT ts_code FROM normalized_stock_basic WHERE list_status = 'L' "
                "AND regexp_full_match(ts_code, '\\d{6}\\.(SH|SZ)') ORDER BY ts_code"
            )
        except Exception:  # no stock_basic in this snapshot yet
            return []
    return frame["ts_code"].tolist()


def akshare_answers(settings: TwilightSettings, requests: Sequence[TushareRequest]) -> Answers:
    """Tushare-shaped ``daily`` answers of ``requests`` (by trade date) from AKShare."""
    if not requests:
        return
    codes = _codes(settings)
    if not codes:
        raise AkshareUnavailableError("no stored stock_basic: materialize it before a fallback")
    wanted = {str(r.params["trade_date"]): r for r in requests}
    start, end = (datetime.strptime(d, "%Y%m%d").date() for d in (min(wanted), max(wanted)))
    provider = AkshareDailyProvider(client_from_settings(settings, lazy=True))

    frames, failed = provider.daily_many(codes, start, end, settings.akshare_max_in_flight)
    if len(failed) == len(codes):
        raise AkshareUnavailableError(f"AKShare answered none of {len(codes)} stocks")
    bars = pd.concat(frames, ignore_index=True)
    bars["source"] = AKSHARE
    for day, request in sorted(wanted.items()):
        yield request, bars[bars["trade_date"] == day].reset_index(drop=True)


class AkshareFallback:
    """The prices domain's alternate source of ``daily``, plugged into the table factory."""

    def fetch(self, client: TushareClient, requests: list[TushareRequest]) -> Answers:
        """Answers of ``requests`` from Tushare and/or AKShare, per ``TWILIGHT_AKSHARE_MODE``."""
        settings = get_settings()
        if settings.akshare_mode == "off" or not settings.akshare_enabled or not requests:
            yield from client.query_many(requests)
            return
        if settings.akshare_mode == "prefer":
            try:
                yield from akshare_answers(settings, requests)
                return
            except AkshareUnavailableError as exc:
                log.warning("AKShare preferred but unavailable (%s); asking Tushare", exc)
                yield from client.query_many(requests)
                return
        answered: set[int] = set()
        try:
            for request, frame in client.query_many(requests):
                answered.add(id(request))
                yield request, frame
        except FALLBACK_ERRORS as exc:
            rest = [r for r in requests if id(r) not in answered]
            log.warning("%s; filling %d partitions of daily from AKShare", exc, len(rest))
            try:
                yield from akshare_answers(settings, rest)
            except AkshareUnavailableError as ak_exc:
                raise exc from ak_exc

    def provisional(self, settings: TwilightSettings, keys: set[str]) -> set[str]:
        """Held partitions whose rows came from AKShare: Tushare is asked for them again."""
        if (
            not keys
            or settings.akshare_mode == "prefer"
            or read_pointer(settings.warehouse_file) is None
        ):
            return set()
        with WarehouseReader.from_settings(settings, pool_size=1) as reader:
            frame = reader.query(
                "SELECT DISTINCT strftime(trade_date, '%Y%m%d') AS k FROM normalized_daily "
                "WHERE source = ? AND list_contains(CAST(? AS VARCHAR[]), "
                "strftime(trade_date, '%Y%m%d'))",
                [AKSHARE, sorted(keys)],
            )
        return set(frame["k"])

    # A row's source is in its fetch's extra fields: AKShare's answers carry one.
    row_source = (
        f"CASE WHEN json_valid(extra_fields) THEN coalesce(json_extract_string(extra_fields, "
        f"'$.source'), '{TUSHARE}') ELSE '{TUSHARE}' END"
    )


def count_sources(context: AssetExecutionContext, clean: pd.DataFrame) -> None:
    """Output metadata: how many rows came from each source."""
    counts = clean["source"].value_counts() if "source" in clean.columns else pd.Series()
    context.add_output_metadata(
        {
            f"rows_{source}": MetadataValue.int(int(counts.get(source, 0)))
            for source in (TUSHARE, AKSHARE)
        }
    )
