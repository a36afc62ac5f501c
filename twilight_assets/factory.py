"""One factory for every upstream table: a ``raw/<api>`` asset and a ``normalized/<api>`` asset.

A table is declared by what is different about it (its API, partitions, and how a set of
partition keys becomes upstream calls); fetching, spooling, resuming, normalizing and metadata
are the same for all eighteen and live here once.

Resume rule: a partition whose latest raw fetch returned rows is not fetched again unless the run
config says ``refetch: true``; an answer fetched by a run that died before its write is read back
from the spool. Together they make a rerun of an interrupted backfill spend no call twice. The
IO manager deletes the spooled answers of a raw write once it has committed. Runs
at the same time claim the partitions they fetch (``warehouse.claims``), so overlapping ones do
not either.
"""

import json
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    BetaWarning,
    Config,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from twilight_assets.coverage import fetched_partitions
from twilight_assets.planners import Planner
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.spool import FetchSpool, prune_run_spools
from twilight_resources.tushare import ApiPressure, TushareClient, TushareRequest, TushareResource
from twilight_resources.warehouse import NormalizedBatch, table_spec
from twilight_resources.warehouse.claims import Owner, PartitionClaims
from twilight_resources.warehouse.io_manager import RawPartitions
from twilight_resources.warehouse.raw import RawBatch
from twilight_resources.warehouse.writer import TUSHARE_SQL, UNPARTITIONED

Hook = Callable[[AssetExecutionContext, pd.DataFrame], None]
log = logging.getLogger(__name__)
# How often a run waiting for partitions another run claimed asks for them again.
CLAIM_POLL_S = 0.5

# Range backfills are the point of these assets; Dagster still labels the policy beta.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)

# A partition range runs as one run: Dagster's overhead is paid once, the CLI's
# `--partition-range` accepts it, and the spool makes a killed range cheap to resume.
SINGLE_RUN = BackfillPolicy.single_run()
# A refresh run's spool serves only retries of that run; a day covers any sensible retry.
RUN_SPOOL_MAX_AGE_S = 86_400.0


class FetchConfig(Config):
    """Run config of raw assets."""

    refetch: bool = False  # fetch partitions again even if the warehouse already has them
    # Per-stock calls only for these codes (a sensor's newly disclosed stocks); empty means all.
    ts_codes: list[str] = []


class AlternateSource(Protocol):
    """A second source for a table (AKShare for ``daily``): when and how it answers instead."""

    def fetch(
        self, client: TushareClient, requests: list[TushareRequest]
    ) -> Iterable[tuple[TushareRequest, pd.DataFrame]]:
        """Answers of ``requests``, from Tushare or, where it cannot answer, from this source."""
        ...

    def provisional(self, settings: TwilightSettings, keys: set[str]) -> set[str]:
        """Those of ``keys`` held only from this source: Tushare is asked for them again."""
        ...

    # SQL over a raw row's columns naming the source its fetch came from.
    row_source: str


@dataclass(frozen=True)
class UpstreamTable:
    """What makes one Tushare API's asset pair different from the others."""

    api: str
    group: str
    description: str
    plan: Planner
    partitions: PartitionsDefinition | None = None
    # Column of the answer naming each row's partition, for calls that span several partitions.
    partition_column: str | None = None
    after_normalize: Hook | None = None
    # Tables (by API) whose normalized asset the raw fetch reads, e.g. through its planner.
    extra_deps: tuple[str, ...] = field(default=())
    # The upstream's answer for a partition keeps changing: fetch it on every run.
    refresh: bool = False
    # Another source for this table (fetch, provisional partitions, per-row source), e.g. AKShare.
    alternate: AlternateSource | None = None

    @property
    def raw_key(self) -> AssetKey:
        return AssetKey(["raw", self.api])

    @property
    def normalized_key(self) -> AssetKey:
        return AssetKey(["normalized", self.api])


def _partition_keys(context: AssetExecutionContext) -> list[str]:
    if context.assets_def.partitions_def is None:
        return [UNPARTITIONED]
    return list(context.partition_keys)


def _label(
    frame: pd.DataFrame, req: TushareRequest, column: str | None, fetched_at: str
) -> pd.DataFrame:
    """Add the raw lineage the writer expects: partition, request parameters, fetch time."""
    frame = frame.copy()
    if req.tag is not None:
        frame["partition_key"] = req.tag
    elif column is not None:
        frame["partition_key"] = frame[column].astype(str)
    else:
        frame["partition_key"] = UNPARTITIONED
    frame["request_params"] = json.dumps(dict(req.params), sort_keys=True, ensure_ascii=False)
    frame["fetched_at"] = pd.Timestamp(fetched_at)
    return frame


def fetch_partitions(
    table: UpstreamTable,
    keys: Sequence[str],
    tushare: TushareResource,
    *,
    refetch: bool,
    run_scope: str = "",
    ts_codes: Sequence[str] = (),
    claim_as: Owner | None = None,
) -> tuple[RawBatch, dict[str, int]]:
    """Fetch ``keys`` (of a resumable table, only those the warehouse lacks).

    Returns the raw batch (the partitions fetched, their spool files) and spend figures.
    ``run_scope`` (the root run id) keys the spool of refresh tables; ``ts_codes`` narrows
    per-stock calls to those codes. With ``claim_as``, the partitions to fetch are claimed first
    (waiting while another run fetches some of them); the caller releases the claims once the
    raw write is done or failed.
    """
    settings = get_settings()
    fetch_all = refetch or table.refresh
    claims = PartitionClaims(settings.warehouse_file) if claim_as and not fetch_all else None
    waiting_for: set[Owner] = set()
    while True:
        done = set() if fetch_all else fetched_partitions(settings, f"raw_{table.api}", keys)
        held = done - table.alternate.provisional(settings, done) if table.alternate else done
        todo = [k for k in keys if k not in held]
        if claims is None or claim_as is None or not todo:
            break
        holders = claims.claim(f"raw_{table.api}", todo, claim_as)
        if not holders:
            break
        if set(holders.values()) - waiting_for:
            waiting_for |= set(holders.values())
            others = ", ".join(sorted({o.describe() for o in holders.values()}))
            log.info(
                "%s: %d of the %d partitions to fetch are being fetched by %s; waiting for "
                "its write, then fetching only what it did not",
                table.api, len(holders), len(todo), others,
            )  # fmt: skip
        # Wait on the claims file (cheap), then look at what the warehouse holds now.
        while claims.claim(f"raw_{table.api}", todo, claim_as):
            time.sleep(CLAIM_POLL_S)
    if table.refresh:
        runs = settings.home / "spool" / "runs"
        prune_run_spools(runs, run_scope, RUN_SPOOL_MAX_AGE_S)
        spool = FetchSpool(runs / (run_scope or "adhoc"))
    else:
        spool = FetchSpool(settings.home / "spool")
    for req in table.plan(sorted(done), settings) if done else []:
        spool.drop(req.api_name, req.params)  # in the warehouse now: the spool copy is spent
    done = held  # held from the alternate source only: asked again
    spec = table_spec(f"raw_{table.api}")
    wanted = set(ts_codes)
    requests = [
        TushareRequest(r.api_name, r.params, r.fields or spec.data_columns, r.tag)
        for r in (table.plan(todo, settings) if todo else [])
        if not wanted or r.params.get("ts_code") in (None, *wanted)
    ]
    frames: list[pd.DataFrame] = []
    missing: list[TushareRequest] = []
    for req in requests:
        spooled = None if refetch else spool.get(req.api_name, req.params)
        if spooled is None:
            missing.append(req)
        else:
            frames.append(_label(spooled[0], req, table.partition_column, spooled[1]))
    source = table.alternate.fetch if table.alternate is not None else None
    answers = source(tushare.client, missing) if source else tushare.client.query_many(missing)
    for req, frame in answers:
        fetched_at = spool.put(req.api_name, req.params, frame)
        frames.append(_label(frame, req, table.partition_column, fetched_at))
    frames = [f for f in frames if not f.empty]
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not raw.empty:
        raw = raw[raw["partition_key"].isin(todo)]
    spool_files = tuple(spool.path(r.api_name, r.params) for r in requests)
    spend = {
        "upstream_calls": len(missing),
        "from_spool": len(requests) - len(missing),
        "skipped_partitions": len(done),
    }
    return RawBatch(raw, tuple(todo), spool_files), spend


def pushback(
    before: Mapping[str, ApiPressure], after: Mapping[str, ApiPressure]
) -> tuple[int, float]:
    """Rate refusals and seconds paused between two readings of a client's pressure."""
    zero = ApiPressure()
    refusals = sum(p.refusals - before.get(api, zero).refusals for api, p in after.items())
    paused = sum(p.paused_s - before.get(api, zero).paused_s for api, p in after.items())
    return refusals, paused


def _date_range(frame: pd.DataFrame) -> str | None:
    for column in ("trade_date", "cal_date", "end_date", "list_date"):
        if column in frame.columns and frame[column].notna().any():
            return f"{frame[column].min()}..{frame[column].max()}"
    return None


def build_table_assets(table: UpstreamTable) -> list[AssetsDefinition]:
    """The raw and normalized assets of one upstream table."""
    policy = SINGLE_RUN if table.partitions is not None else None
    kinds = {"duckdb", "tushare"}

    @asset(
        key=table.raw_key,
        group_name=table.group,
        partitions_def=table.partitions,
        backfill_policy=policy,
        kinds=kinds,
        pool="tushare",
        deps=[AssetKey(["normalized", api]) for api in table.extra_deps],
        description=f"{table.description} As the upstream answered (text), with request "
        "parameters and fetch time; one row per answer row and fetch.",
    )
    def raw_asset(
        context: AssetExecutionContext, config: FetchConfig, tushare: TushareResource
    ) -> RawBatch:
        keys = _partition_keys(context)
        before = tushare.client.pressure()
        owner = Owner.current(context.run_id)
        try:
            batch, spend = fetch_partitions(
                table,
                keys,
                tushare,
                refetch=config.refetch,
                run_scope=context.run.root_run_id or context.run_id,
                ts_codes=config.ts_codes,
                claim_as=owner,
            )
        except BaseException:  # else the IO manager releases them after the write
            PartitionClaims(get_settings().warehouse_file).release(f"raw_{table.api}", owner)
            raise
        refusals, paused_s = pushback(before, tushare.client.pressure())
        if refusals:
            context.log.warning(
                f"upstream refused {refusals} call(s) for rate; the token paused "
                f"{paused_s:.0f} s in all and resumed below the refused rate"
            )
        context.add_output_metadata(
            {
                **{k: MetadataValue.int(v) for k, v in spend.items()},
                "partitions_fetched": MetadataValue.int(len(batch.partition_keys)),
                "rate_refusals": MetadataValue.int(refusals),
                "paused_seconds": MetadataValue.float(round(float(paused_s), 1)),
            }
        )
        return batch

    @asset(
        key=table.normalized_key,
        group_name=table.group,
        partitions_def=table.partitions,
        backfill_policy=policy,
        kinds={"duckdb"},
        pool="warehouse",
        ins={"raw": AssetIn(table.raw_key)},
        description=f"{table.description} Typed, de-duplicated, primary-key upserted.",
    )
    def normalized_asset(context: AssetExecutionContext, raw: RawPartitions) -> NormalizedBatch:
        source = table.alternate.row_source if table.alternate is not None else TUSHARE_SQL
        batch = raw.normalize(f"normalized_{table.api}", source)
        if not batch.rejects.empty:
            context.log.warning(
                "%d rows of %s rejected into quarantine, e.g. %s",
                len(batch.rejects),
                table.api,
                batch.rejects["reason"].iloc[0],
            )
        if table.after_normalize is not None:
            table.after_normalize(context, batch.clean)
        metadata: dict[str, MetadataValue[Any]] = {"rows": MetadataValue.int(len(batch.clean))}
        if (span := _date_range(batch.clean)) is not None:
            metadata["date_range"] = MetadataValue.text(span)
        context.add_output_metadata(metadata)
        return batch

    return [raw_asset, normalized_asset]
