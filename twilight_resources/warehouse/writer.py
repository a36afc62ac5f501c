"""The warehouse's only writer.

One write = one DuckDB transaction holding the data and its partition-ledger rows, so a
failure or a SIGKILL at any point leaves the file exactly as before (DuckDB replays only
committed WAL entries). Writers from any process queue on an flock held only while writing;
fetching happens before, in the asset body. The transaction also records which snapshot parts
it changed (``parts``). After the commit the writer checkpoints and publishes a read snapshot of
those parts, still under the lock so it sees one consistent state. A run publishes once: a
write that names the tables its run writes (``run_tables``: normalized ones, and what their
checks write) publishes only when the ledger holds a write of this run to each of them, so it
is the run's last; earlier ones mark the snapshot deferred. A write outside a run leaves the
publish to the next writer in the queue, if one waits (``snapshots``). Tables are not kept
sorted here: the snapshot parts are written in key order, which is what readers scan.

Raw tables live in their own file (``rawfile``), written and read under the same lock; a raw
write publishes nothing, since readers never see the raw layer.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.warehouse import parts, statement_rows
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.frames import utc_now
from twilight_resources.warehouse.ledger import (
    PARTITIONS_SQL,
    PartitionCounts,
    allocate,
    record_write,
)
from twilight_resources.warehouse.locking import connect_writable, write_lock, writers_waiting
from twilight_resources.warehouse.normalize import NormalizedBatch, normalize_relation
from twilight_resources.warehouse.raw import append_raw, load_latest, stage_latest
from twilight_resources.warehouse.rawfile import (
    drop_moved,
    left_in_main,
    open_raw,
    path_literal,
    raw_path,
)
from twilight_resources.warehouse.schema import TableSpec, apply_ddl, table_spec
from twilight_resources.warehouse.snapshots import SnapshotInfo, defer_locked, publish_locked
from twilight_resources.warehouse.upsert import CLASSIFIED, INSERT, UPDATE, upsert_normalized

UNPARTITIONED = ""
TUSHARE_SQL = "'tushare'"  # the source of every raw row of a table with one source
_TOTALS = ("rows", "inserted", "updated", "unchanged", "rejected")


class PublishError(RuntimeError):
    """The data is committed but the read snapshot could not be published."""


@dataclass(frozen=True)
class WriteResult:
    """What one committed write did; the IO manager turns it into output metadata."""

    table: str
    partition_keys: tuple[str, ...]
    write_id: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    table_rows: int
    file_bytes: int
    snapshot: SnapshotInfo | None
    seconds: float  # in total, including ...
    lock_wait_seconds: float  # ... queueing behind other writers
    publish_seconds: float  # ... and copying the read snapshot


class WarehouseWriter:
    """Writes raw appends (into the raw file) and normalized upserts (into the warehouse file),
    one transaction each."""

    def __init__(
        self,
        path: Path | str,
        *,
        memory_limit: str = "1GB",
        threads: int = 2,
        lock_timeout: float = 600.0,
        publish: bool = True,
        keep_snapshots: int = 2,
    ) -> None:
        self.path = Path(path)
        self.raw_path = raw_path(self.path)
        self.config = {"memory_limit": memory_limit, "threads": str(threads)}
        self.lock_timeout = lock_timeout
        self.publish = publish
        self.keep_snapshots = keep_snapshots

    @classmethod
    def from_settings(
        cls, settings: TwilightSettings | None = None, **overrides: Any
    ) -> WarehouseWriter:
        settings = settings or get_settings()
        options: dict[str, Any] = {
            "memory_limit": settings.duckdb_write_memory_limit,
            "threads": settings.duckdb_write_threads,
        }
        return cls(settings.warehouse_file, **{**options, **overrides})

    @contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An open, schema-current connection; the caller holds the writer lock."""
        conn = connect_writable(self.path, self.config, self.lock_timeout)
        try:
            if left_in_main(conn):  # a single-file warehouse: move its raw layer
                conn.close()
                with self._raw_connection():
                    pass
                conn = connect_writable(self.path, self.config, self.lock_timeout)
                drop_moved(conn)
                conn.execute("CHECKPOINT")
            apply_ddl(conn)
            statement_rows.ensure(conn)  # a new warehouse, an upgrade, a column added
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _raw_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The raw file, schema-current; the caller holds the writer lock."""
        conn = open_raw(self.path, self.config, self.lock_timeout)
        try:
            yield conn
        finally:
            conn.close()

    def _publish(
        self,
        conn: duckdb.DuckDBPyConnection,
        run_id: str | None = None,
        run_tables: Collection[str] = (),
    ) -> SnapshotInfo | None:
        """Publish a read snapshot, unless the run has tables left to write or (outside a run)
        another writer is queued: the run's last write, or that writer, publishes them all."""
        if not self.publish:
            return None
        if run_id and run_tables:
            later = _run_pending(conn, run_id, run_tables)
        else:
            later = writers_waiting(self.path)
        if later:
            defer_locked(self.path)
            return None
        try:
            return publish_locked(self.path, conn, keep=self.keep_snapshots)
        except OSError:
            # A full disk: readers that must see every commit publish before they look (or
            # fail clearly while the disk stays full), so the next run's resume check does not
            # miss this commit and fetch and write it again.
            with suppress(OSError):
                defer_locked(self.path)
            raise

    def write(
        self,
        table: str,
        data: pd.DataFrame | NormalizedBatch,
        partition_keys: Sequence[str] = (UNPARTITIONED,),
        *,
        run_id: str | None = None,
        asset_key: str | None = None,
        run_tables: Collection[str] = (),
    ) -> WriteResult:
        """Append (raw_*) or upsert (normalized_*) ``data`` for ``partition_keys``.

        Every key gets a ledger row, also keys with no rows. A :class:`NormalizedBatch`
        carries rejects, which go to ``meta_quarantine`` in the same transaction.
        ``run_tables``: the tables run ``run_id`` writes; its last write publishes.
        """
        started = time.monotonic()
        spec = table_spec(table)
        keys = tuple(dict.fromkeys(partition_keys)) or (UNPARTITIONED,)
        frame, rejects = data if isinstance(data, NormalizedBatch) else (data, None)
        if spec.layer == "raw":
            if rejects is not None:
                raise ValueError("rejects belong to normalized tables, not raw ones")
            return self._write_raw(spec, frame, keys, run_id, asset_key, started)
        with write_lock(self.path, self.lock_timeout, writer=True):
            locked = time.monotonic()
            with self._connection() as conn:
                write_id, counts = self._commit(conn, spec, frame, rejects, keys, run_id, asset_key)
                table_rows = _row_count(conn, table)
                conn.execute("CHECKPOINT")
                published = time.monotonic()
                try:
                    snapshot = self._publish(conn, run_id, run_tables)
                except OSError as exc:
                    raise PublishError(
                        f"write {write_id} to {table} is committed, but publishing the read "
                        f"snapshot failed (readers keep the previous one): {exc}"
                    ) from exc
            file_bytes = self.path.stat().st_size
        return _result(
            spec, keys, write_id, counts, table_rows, file_bytes, snapshot,
            started=started, locked=locked, published=published,
        )  # fmt: skip

    def _write_raw(
        self,
        spec: TableSpec,
        frame: pd.DataFrame,
        keys: tuple[str, ...],
        run_id: str | None,
        asset_key: str | None,
        started: float,
    ) -> WriteResult:
        """Append to the raw file. Not queued as a publishing writer: it changes nothing
        readers see, so a writer ahead of it still publishes."""
        with write_lock(self.path, self.lock_timeout):
            locked = time.monotonic()
            with self._raw_connection() as conn:
                now = utc_now()
                with _atomic(conn):
                    write_id = allocate(conn, "write_id", 1)
                    counts = append_raw(conn, spec, frame, keys, fetched_default=now)
                    record_write(
                        conn,
                        table=spec.name,
                        write_id=write_id,
                        written_at=now,
                        counts=counts,
                        run_id=run_id,
                        asset_key=asset_key,
                    )
                table_rows = _row_count(conn, spec.name)
            # No CHECKPOINT: nothing copies the raw file, and closing it checkpoints anyway.
            file_bytes = self.raw_path.stat().st_size
        return _result(
            spec, keys, write_id, counts, table_rows, file_bytes, None,
            started=started, locked=locked, published=None,
        )  # fmt: skip

    def _commit(
        self,
        conn: duckdb.DuckDBPyConnection,
        spec: TableSpec,
        frame: pd.DataFrame,
        rejects: pd.DataFrame | None,
        keys: tuple[str, ...],
        run_id: str | None,
        asset_key: str | None,
    ) -> tuple[int, dict[str, PartitionCounts]]:
        """Normalized data + ledger in one transaction; returns the write id and per-partition
        counts."""
        now = utc_now()
        with _atomic(conn):
            write_id = allocate(conn, "write_id", 1)
            counts = upsert_normalized(
                conn,
                spec,
                frame,
                keys,
                rejects=rejects,
                now=now,
                write_id=write_id,
                run_id=run_id,
            )
            if not frame.empty:
                changed = f"_action IN ({INSERT}, {UPDATE})"
                parts.mark_rows(conn, spec.name, CLASSIFIED, changed)
                if spec.name in statement_rows.SOURCES:
                    statement_rows.refresh(conn, spec.name)
            if rejects is not None and not rejects.empty:
                parts.mark_whole(conn, ("meta_quarantine",))
            parts.mark_whole(conn, ("meta_partition_ledger", "meta_counters"))
            record_write(
                conn,
                table=spec.name,
                write_id=write_id,
                written_at=now,
                counts=counts,
                run_id=run_id,
                asset_key=asset_key,
            )
        return write_id, counts

    @contextmanager
    def transaction(
        self,
        tables: Sequence[str] = (parts.WHOLE,),
        *,
        run_id: str | None = None,
        run_tables: Collection[str] = (),
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction of the caller's own statements (for tables no asset outputs), written
        as every write is: queued, committed whole or not at all, checkpointed, published.

        ``tables``: those the statements change, whose snapshot parts are published again
        (by default every table, as the writer cannot tell). From a step of run ``run_id``
        (an asset check), it leaves the publish to the run's last write if one is still due.
        """
        with write_lock(self.path, self.lock_timeout, writer=True):
            with self._connection() as conn:
                with _atomic(conn):
                    yield conn
                    parts.mark_whole(conn, tables)
                conn.execute("CHECKPOINT")
                self._publish(conn, run_id, run_tables)

    def load_raw(self, table: str, partition_keys: Sequence[str]) -> pd.DataFrame:
        """Raw rows of the latest fetch of each partition (what a normalized asset consumes)."""
        spec = table_spec(table)
        if spec.layer != "raw":
            raise ValueError(f"{table} is not a raw table")
        with write_lock(self.path, self.lock_timeout), self._raw_connection() as conn:
            return load_latest(conn, spec, partition_keys)

    def normalize_raw(
        self,
        raw_table: str,
        table: str,
        partition_keys: Sequence[str],
        *,
        source_sql: str = TUSHARE_SQL,
    ) -> NormalizedBatch:
        """The latest fetch of each partition of ``raw_table``, normalized for ``table`` inside
        DuckDB: the raw rows never become a DataFrame. ``source_sql``: each raw row's source
        (an SQL expression over the raw columns). The rows are copied into memory under the
        writer lock, and cast after it, so other writers wait only for the copy."""
        raw = table_spec(raw_table)
        if raw.layer != "raw":
            raise ValueError(f"{raw_table} is not a raw table")
        conn = connect(config=self.config)
        try:
            with write_lock(self.path, self.lock_timeout):
                with self._raw_connection():  # created, and its schema current
                    pass
                conn.execute(f"ATTACH {path_literal(self.raw_path)} AS raw_file (READ_ONLY)")
                try:
                    staged = stage_latest(conn, raw, partition_keys, catalog="raw_file")
                finally:
                    conn.execute("DETACH raw_file")
            return normalize_relation(
                conn, table_spec(table), staged, list(raw.columns), source_sql
            )
        finally:
            conn.close()

    def raw_partitions(self, table: str) -> pd.DataFrame:
        """The latest raw ledger row of each partition of ``table`` (what was fetched)."""
        return self.query_raw(PARTITIONS_SQL, [table_spec(table).name])

    def query_raw(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """A query of the raw file, under the writer lock (raw is in no snapshot)."""
        with write_lock(self.path, self.lock_timeout), self._raw_connection() as conn:
            return conn.execute(sql, params).df()

    def load_table(self, table: str) -> pd.DataFrame:
        """A whole table, read under the writer lock (exact, unlike a possibly older snapshot)."""
        spec = table_spec(table)
        opened = self._raw_connection if spec.layer == "raw" else self._connection
        with write_lock(self.path, self.lock_timeout), opened() as conn:
            return conn.execute(f"SELECT * FROM {spec.name}").df()


def _run_pending(conn: duckdb.DuckDBPyConnection, run_id: str, tables: Collection[str]) -> bool:
    """Whether run ``run_id`` has yet to write one of ``tables`` (the ledger knows its writes)."""
    row = conn.execute(
        "SELECT count(DISTINCT table_name) FROM meta_partition_ledger "
        "WHERE run_id = ? AND list_contains(?, table_name)",
        [run_id, sorted(set(tables))],
    ).fetchone()
    return row is None or int(row[0]) < len(set(tables))


@contextmanager
def _atomic(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    conn.begin()
    try:
        yield
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _result(
    spec: TableSpec,
    keys: tuple[str, ...],
    write_id: int,
    counts: dict[str, PartitionCounts],
    table_rows: int,
    file_bytes: int,
    snapshot: SnapshotInfo | None,
    *,
    started: float,
    locked: float,
    published: float | None,
) -> WriteResult:
    """A committed write's figures; ``published`` is when publishing began (None: no publish)."""
    done = time.monotonic()
    return WriteResult(
        table=spec.name,
        partition_keys=keys,
        write_id=write_id,
        table_rows=table_rows,
        file_bytes=file_bytes,
        snapshot=snapshot,
        seconds=done - started,
        lock_wait_seconds=locked - started,
        publish_seconds=0.0 if published is None else done - published,
        **{f: sum(getattr(c, f) for c in counts.values()) for f in _TOTALS},
    )


def _row_count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
