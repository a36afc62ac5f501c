"""Dagster's only path into the warehouse.

The asset key picks the table by one rule (:func:`table_for_asset_key`): ``raw/daily`` ->
``raw_daily``, ``normalized/daily`` -> ``normalized_daily``. Raw outputs (a :class:`RawBatch`,
or a plain DataFrame covering the run's partitions) are appended with a raw_id per row and their
spooled answers deleted once committed; normalized outputs (a :class:`NormalizedBatch`, or a
DataFrame with no rejects) are upserted on the primary key, their rejects quarantined. Each
output is one transaction that also records every partition it covers (ranges from single-run
backfills included) in the partition ledger. A run publishes one read snapshot, after the last of
its normalized writes (:func:`run_tables`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dagster import (
    ConfigurableIOManager,
    DagsterInvariantViolationError,
    DagsterRun,
    InitResourceContext,
    InputContext,
    MetadataValue,
    OutputContext,
)
from pydantic import Field

from twilight_resources.priority import lower_priority
from twilight_resources.settings import get_settings
from twilight_resources.spool import discard
from twilight_resources.warehouse.claims import Owner, PartitionClaims
from twilight_resources.warehouse.normalize import NormalizedBatch
from twilight_resources.warehouse.raw import RawBatch
from twilight_resources.warehouse.schema import table_for_asset_key, table_spec
from twilight_resources.warehouse.writer import (
    TUSHARE_SQL,
    UNPARTITIONED,
    WarehouseWriter,
    WriteResult,
)

# Tag of a job's runs naming the normalized tables the job writes (for runs of the whole job,
# whose asset selection Dagster leaves empty).
RUN_TABLES_TAG = "twilight/run_tables"
PREVIEW_COLUMNS = 30  # statements have ~160 columns; the event log needs a glimpse


def markdown_table(frame: pd.DataFrame) -> str:
    """A small GitHub-style table (pandas' to_markdown needs tabulate, which we do not ship)."""

    def cell(value: Any) -> str:  # a cell of itertuples(), which pandas types as Any
        return "" if pd.isna(value) else str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def output_metadata(
    result: WriteResult, frame: pd.DataFrame, preview_rows: int
) -> dict[str, MetadataValue]:
    keys = sorted(result.partition_keys)
    metadata: dict[str, MetadataValue] = {
        "table": MetadataValue.text(result.table),
        "partitions": MetadataValue.int(len(keys)),
        "partition_range": MetadataValue.text(
            keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
        ),
        "rows": MetadataValue.int(result.rows),
        "inserted": MetadataValue.int(result.inserted),
        "updated": MetadataValue.int(result.updated),
        "unchanged": MetadataValue.int(result.unchanged),
        "rejected": MetadataValue.int(result.rejected),
        "dagster/row_count": MetadataValue.int(result.table_rows),
        "table_rows": MetadataValue.int(result.table_rows),
        "file_size_bytes": MetadataValue.int(result.file_bytes),
        "write_id": MetadataValue.int(result.write_id),
        "write_seconds": MetadataValue.float(round(result.seconds, 3)),
        "lock_wait_seconds": MetadataValue.float(round(result.lock_wait_seconds, 3)),
        "publish_seconds": MetadataValue.float(round(result.publish_seconds, 3)),
        "preview": MetadataValue.md(markdown_table(frame.iloc[:preview_rows, :PREVIEW_COLUMNS])),
    }
    if result.snapshot is not None:
        metadata["snapshot_generation"] = MetadataValue.int(result.snapshot.generation)
    return metadata


def _covered_keys(context: OutputContext, batch: RawBatch | None) -> list[str]:
    """The partitions this output speaks for: the run's, or the subset a raw batch names."""
    keys = list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]
    if batch is None:
        return keys
    unknown = sorted(set(batch.partition_keys) - set(keys))
    if unknown:
        raise ValueError(f"the raw batch names partitions outside this run: {unknown[:5]}")
    return list(batch.partition_keys)


def _written(
    asset_keys: Iterable[Sequence[str]], check_writes: Mapping[str, Sequence[str]] | None
) -> list[str]:
    """The normalized tables of ``asset_keys`` (paths) and what their checks write."""
    tables: set[str] = set()
    for path in asset_keys:
        if path[-2:-1] == ["normalized"]:
            table = table_for_asset_key(path)
            tables.update((table, *(check_writes or {}).get(table, ())))
    return sorted(tables)


def run_tables_tag(
    asset_keys: Iterable[Sequence[str]], check_writes: Mapping[str, Sequence[str]] | None = None
) -> dict[str, str]:
    """The tag for runs of ``asset_keys`` (paths) naming the tables they write: the normalized
    ones, and what their checks write (``check_writes``: normalized table -> tables; the
    catalog's, for a run that also runs its assets' checks)."""
    return {RUN_TABLES_TAG: ",".join(_written(asset_keys, check_writes))}


def run_tables(
    run: DagsterRun, check_writes: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, ...]:
    """The tables ``run`` writes: by its asset selection (and ``check_writes``: Dagster runs an
    asset's checks unless told not to), or for a run of a whole job by the job's tag. Empty
    when unknown: then every write of the run publishes."""
    selected = [key.path for key in run.asset_selection or ()]
    if selected:
        return tuple(_written(selected, check_writes))
    return tuple(t for t in run.tags.get(RUN_TABLES_TAG, "").split(",") if t)


@dataclass(frozen=True)
class RawPartitions:
    """A raw input left in the raw file: what a normalized asset normalizes from there."""

    table: str
    keys: tuple[str, ...]
    writer: WarehouseWriter

    def normalize(self, table: str, source_sql: str = TUSHARE_SQL) -> NormalizedBatch:
        """The latest fetch of each of ``keys``, normalized for ``table``; ``source_sql``: each
        raw row's source, an SQL expression over the raw columns."""
        return self.writer.normalize_raw(self.table, table, self.keys, source_sql=source_sql)


def _run_of(context: OutputContext) -> DagsterRun | None:
    try:
        return context.step_context.dagster_run
    except DagsterInvariantViolationError:  # an output context built outside a run
        return None


class DuckDBWarehouseIOManager(ConfigurableIOManager):
    """The only writer of the warehouse: raw appends and normalized upserts, one transaction
    per output, queued across processes; a run's last normalized write publishes a snapshot."""

    path: str | None = Field(
        default=None, description="Warehouse file; default: settings.warehouse_file."
    )
    lock_timeout_seconds: float = Field(
        default=600.0, description="How long a write waits for other writers before failing."
    )
    publish: bool = Field(
        default=True, description="Publish a read snapshot after each run's last write."
    )
    memory_limit: str | None = Field(
        default=None, description="DuckDB memory_limit; default: duckdb_write_memory_limit."
    )
    threads: int | None = Field(
        default=None, description="DuckDB threads; default: duckdb_write_threads."
    )
    preview_rows: int = Field(default=5, description="Rows shown in the output preview.")
    check_writes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Normalized table -> the tables its asset checks write (the catalog's).",
    )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # A step may fetch before it touches the warehouse: it starts at the fetching niceness.
        lower_priority(get_settings().fetch_niceness)

    def writer(self) -> WarehouseWriter:
        settings = get_settings()
        lower_priority(settings.batch_niceness)  # reading, normalizing, writing: batch work
        return WarehouseWriter(
            self.path or settings.warehouse_file,
            memory_limit=self.memory_limit or settings.duckdb_write_memory_limit,
            threads=self.threads or settings.duckdb_write_threads,
            lock_timeout=self.lock_timeout_seconds,
            publish=self.publish,
        )

    def handle_output(
        self, context: OutputContext, obj: pd.DataFrame | RawBatch | NormalizedBatch
    ) -> None:
        table = table_for_asset_key(context.asset_key.path)
        try:
            self._write(context, table, obj)
        finally:
            if table_spec(table).layer == "raw":  # claimed while fetching (twilight_assets)
                claims = PartitionClaims(get_settings().warehouse_file)
                claims.release(table, Owner.current(context.run_id))

    def _write(
        self, context: OutputContext, table: str, obj: pd.DataFrame | RawBatch | NormalizedBatch
    ) -> None:
        layer = table_spec(table).layer
        allowed = (pd.DataFrame, RawBatch) if layer == "raw" else (pd.DataFrame, NormalizedBatch)
        if not isinstance(obj, allowed):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; the "
                f"warehouse stores a {' or a '.join(t.__name__ for t in allowed)} in {table}"
            )
        batch = obj if isinstance(obj, RawBatch) else None
        data = obj.frame if isinstance(obj, RawBatch) else obj
        frame = data.clean if isinstance(data, NormalizedBatch) else data
        keys, run = _covered_keys(context, batch), _run_of(context)
        if keys:
            result = self.writer().write(
                table,
                data,
                keys,
                run_id=context.run_id,
                asset_key=context.asset_key.to_user_string(),
                run_tables=run_tables(run, self.check_writes)
                if run and layer == "normalized"
                else (),
            )
            context.add_output_metadata(output_metadata(result, frame, self.preview_rows))
        else:
            context.log.info(f"{table}: every partition of this run is already held; no write")
            context.add_output_metadata({"table": table, "partitions": 0})
        if batch is not None:  # written (or held already): the spooled answers are spent
            discard(batch.spooled)

    def load_input(self, context: InputContext) -> pd.DataFrame | RawPartitions:
        """Raw inputs: the latest fetch of each requested partition, as a DataFrame or, for an
        input typed :class:`RawPartitions`, as a handle that normalizes them inside DuckDB.
        Normalized inputs: the whole table (partitioned reads go through the reader)."""
        table = table_for_asset_key(context.asset_key.path)
        writer = self.writer()
        if table_spec(table).layer == "raw":
            keys = list(context.asset_partition_keys) if context.has_asset_partitions else []
            if context.dagster_type.typing_type is RawPartitions:
                return RawPartitions(table, tuple(keys or [UNPARTITIONED]), writer)
            return writer.load_raw(table, keys or [UNPARTITIONED])
        if context.has_asset_partitions:
            raise ValueError(
                f"{table} is not loaded by partition; query it with WarehouseReader instead"
            )
        return writer.load_table(table)
