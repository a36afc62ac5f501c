"""The one read API of the serving processes (read sidecar, MCP server).

Readers never open the warehouse file: they query the newest published snapshot through a
small pool of connections to one in-memory database, which attaches every part of one
generation read-only and names each table by a view over its parts (UNION ALL of the years of a
dated table), then creates the warehouse's views over those. So readers are never blocked by a
writer and never block one, and a query sees one generation whole: a pool attaches all parts of
its generation or none. When the pointer changes, a pool on the new generation is opened and
swapped in, and the old pool closes once its running queries finish. Serving processes pass
``watch_interval``: a background thread then watches the pointer and opens new snapshots, so no
request ever waits on opening (or closing) a database; without it, each query checks the
pointer (one ``stat``).
A watching reader also moves on at most once per ``switch_interval``: each switch costs the
serving process an open, a close and queries on cold caches, and a backfill may publish every
few seconds; the first snapshot after a quiet spell is still served at once. It also reads the
``warm_tables`` it serves into a new pool before switching, so requests after a switch do not
pay for first loads into fresh memory.
Other readers (asset checks, planners, the CLI) must see every committed write: while writes
wait for a snapshot (a run publishes once, after its last write) they query the writer's file
itself, under the writer lock, and otherwise the snapshot (one ``stat`` tells). Readers never
publish. Serving processes pass ``read_unpublished=False`` or watch: they wait for the snapshot.
A generation deleted between reading the pointer and attaching its last part makes the reader
drop what it attached and re-read the pointer; if no newer one can be opened the reader keeps
serving the one it has.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from twilight_resources.priority import lower_thread_priority
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.ledger import MISSING_SQL, PARTITIONS_SQL
from twilight_resources.warehouse.locking import connect_writable, write_lock
from twilight_resources.warehouse.schema import quote
from twilight_resources.warehouse.snapshots import (
    Manifest,
    ManifestError,
    SnapshotInfo,
    deferred_path,
    load_manifest,
    newest_complete,
    pointer_path,
    read_pointer,
)

log = logging.getLogger(__name__)

# Opening a new snapshot and closing a retired one take tens of milliseconds of CPU each; their
# threads run at this niceness so that queries answered meanwhile get the CPU first.
HOUSEKEEPING_NICENESS = 10


class SnapshotUnavailableError(RuntimeError):
    """No snapshot has been published yet (run a write or ``publish_snapshot``)."""


# DuckDB's rendering of a memory amount (current_setting('memory_limit'): '244.1 MiB').
_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
_MEMORY_UNITS = {unit: 1 << (10 * power) for power, unit in enumerate(_UNITS)}
WARM_FILL = 0.9  # warming stops once the buffer pool holds this share of its memory limit


def _value(conn: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The one value of a one-row query (DuckDB types a row as Any)."""
    row = conn.execute(sql).fetchone()
    if row is None:
        raise ValueError(f"no row from {sql!r}")
    return row[0]


def _mount(conn: duckdb.DuckDBPyConnection, directory: Path, manifest: Manifest) -> None:
    """Attach every part of one generation and put the warehouse's names over them."""
    sources: dict[str, list[str]] = {}
    for n, part in enumerate(manifest.parts):
        path = str(directory / part.file).replace("'", "''")
        conn.execute(f"ATTACH '{path}' AS part{n} (READ_ONLY)")
        sources.setdefault(part.table, []).append(f"SELECT * FROM part{n}.{quote(part.table)}")
    for table, selects in sources.items():
        conn.execute(f"CREATE VIEW main.{quote(table)} AS {' UNION ALL '.join(selects)}")
    for view in manifest.views:
        try:
            conn.execute(view)
        except duckdb.CatalogException as exc:  # over a table readers do not get (raw_*)
            log.info("snapshot %s serves without a view: %s", directory.name, exc)


class _Pool:
    """Connections to one generation; closed when retired and idle."""

    def __init__(
        self, info: SnapshotInfo, size: int, config: dict[str, str], warm: Sequence[str] = ()
    ) -> None:
        self.info = info
        manifest = load_manifest(info.path)
        self._tables = set(manifest.tables())
        self._db = connect(config=config)
        try:
            _mount(self._db, info.path, manifest)
        except BaseException:  # a part vanished (an old generation removed): none of it
            self._db.close()
            raise
        self._idle: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue()
        for _ in range(size):
            self._idle.put(self._db.cursor())
        if warm:
            self._warm(warm)
        self._busy = 0
        self._retired = False
        self._lock = threading.Lock()

    def _warm(self, tables: Sequence[str]) -> None:
        """Read ``tables`` (those present) in order until the buffer pool is nearly full.

        A new database loads each block into freshly allocated memory, and every page of it
        faults on first touch, which is dear in a VM: the first ~100 queries on a new snapshot
        ran about twice as slow (bench_api). Once the pool is full, loads reuse evicted
        buffers. A watching reader opens pools in the background, so it pays this there
        instead of in the requests that follow a switch. Warming only saves time: if it fails,
        the pool is served cold rather than not at all.
        """
        conn = self._idle.get()
        try:
            amount, unit = str(_value(conn, "SELECT current_setting('memory_limit')")).split()
            full = float(amount) * _MEMORY_UNITS[unit] * WARM_FILL
            for table in (t for t in tables if t in self._tables):
                conn.execute(f"SELECT first(COLUMNS(*)) FROM {table}").fetchall()
                used = _value(conn, "SELECT sum(memory_usage_bytes) FROM duckdb_memory()")
                if used >= full:
                    break
        except (duckdb.Error, KeyError, ValueError) as exc:
            log.warning("snapshot %s served without warming: %s", self.info.path, exc)
        finally:
            self._idle.put(conn)

    def acquire(self) -> bool:
        with self._lock:
            if self._retired:
                return False
            self._busy += 1
            return True

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of this pool; the caller has called :meth:`acquire`."""
        conn = self._idle.get()
        try:
            yield conn
        finally:
            self._idle.put(conn)
            with self._lock:
                self._busy -= 1
                closing = self._retired and self._busy == 0
            if closing:
                self._close()

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            closing = self._busy == 0
        if closing:
            self._close()

    def _close(self) -> None:
        """Close in the background: freeing a database's buffers is no request's business.

        Not a daemon thread: the interpreter waits for it at exit, as DuckDB must not be torn
        down under a closing connection.
        """
        threading.Thread(target=self._close_now, name="snapshot-close").start()

    def _close_now(self) -> None:
        lower_thread_priority(HOUSEKEEPING_NICENESS)
        while not self._idle.empty():
            self._idle.get_nowait().close()
        self._db.close()


class WarehouseReader:
    """Parameterized queries against the newest published snapshot of a warehouse."""

    def __init__(
        self,
        warehouse: Path | str,
        *,
        pool_size: int = 4,
        memory_limit: str = "256MB",
        threads: int = 1,
        open_attempts: int = 5,
        watch_interval: float | None = None,
        switch_interval: float = 0.0,
        read_unpublished: bool = True,
        lock_timeout: float = 600.0,
        warm_tables: Sequence[str] = (),
    ) -> None:
        self.warehouse = Path(warehouse)
        self._pool_size = pool_size
        self._config = {"memory_limit": memory_limit, "threads": str(threads)}
        self._open_attempts = open_attempts
        self._pool: _Pool | None = None
        self._pointer_stamp: tuple[int, int] | None = None
        self._switch = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._switch_interval = switch_interval
        self._switched_at = -math.inf  # monotonic time of the last switch
        self._exact = read_unpublished and not watch_interval
        self._lock_timeout = lock_timeout
        self._held = threading.local()  # a thread's connection inside held()
        self._warm_tables = tuple(warm_tables) if watch_interval else ()  # off requests only
        self._watcher: threading.Thread | None = None
        if watch_interval:
            self._watcher = threading.Thread(
                target=self._watch, args=(watch_interval,), name="snapshot-watch", daemon=True
            )
            self._watcher.start()

    @classmethod
    def from_settings(
        cls, settings: TwilightSettings | None = None, **overrides: Any
    ) -> WarehouseReader:
        settings = settings or get_settings()
        options: dict[str, Any] = {
            "pool_size": settings.duckdb_read_pool_size,
            "memory_limit": settings.duckdb_read_memory_limit,
            "threads": settings.duckdb_read_threads,
        }
        return cls(settings.warehouse_file, **{**options, **overrides})

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(pointer_path(self.warehouse))
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def _open_newest(self) -> _Pool | None:
        """A pool on the snapshot the pointer names, re-reading it if that file vanished.

        If the named file stays unopenable (damaged), a reader with no snapshot yet opens the
        newest complete one instead; one that has a snapshot keeps it.
        """
        broken: SnapshotInfo | None = None
        for attempt in range(self._open_attempts):
            info = read_pointer(self.warehouse)
            if info is None:
                return None
            if self._pool is not None and info.generation == self._pool.info.generation:
                return self._pool
            try:
                return _Pool(info, self._pool_size, self._config, self._warm_tables)
            except (duckdb.Error, OSError, ManifestError) as exc:
                log.info("snapshot %s not openable (%s); re-reading pointer", info.path, exc)
                broken = info
                time.sleep(0.01 * (attempt + 1))
        if broken is None or self._pool is not None:
            return None
        fallback = newest_complete(self.warehouse, skip=broken.path)
        if fallback is None:
            return None
        log.warning(
            "snapshot %s does not open; reading the newest complete snapshot %s instead",
            broken.path, fallback.path.name,
        )  # fmt: skip
        return _Pool(fallback, self._pool_size, self._config, self._warm_tables)

    def _refresh(self) -> None:
        """Switch to the snapshot the pointer names, if it changed since the last look."""
        stamp = self._stamp()
        if stamp != self._pointer_stamp or self._pool is None:
            with self._switch:
                if (stamp != self._pointer_stamp or self._pool is None) and not self._closed:
                    self._switch_to(self._open_newest())
                    if self._pool is not None:  # else retry on the next look
                        self._pointer_stamp = stamp

    def _watch(self, interval: float) -> None:
        lower_thread_priority(HOUSEKEEPING_NICENESS)
        failing = ""  # the error last logged: the same one again is not logged every look
        while not self._stop.wait(interval):
            if time.monotonic() - self._switched_at < self._switch_interval:
                continue
            try:
                self._refresh()
                failing = ""
            except Exception as exc:  # keep watching; requests keep the snapshot they have
                if repr(exc) != failing:
                    failing = repr(exc)
                    log.exception("could not switch to the newest snapshot of %s", self.warehouse)

    def _current(self) -> _Pool:
        """The pool to use now (switching here unless the watcher does it)."""
        if self._closed:
            raise RuntimeError("reader is closed")
        if self._watcher is None or self._pool is None:
            self._refresh()
        pool = self._pool
        if pool is None:
            raise SnapshotUnavailableError(
                f"no snapshot of {self.warehouse} has been published yet"
            )
        return pool

    def _switch_to(self, newest: _Pool | None) -> None:
        """Make ``newest`` current; the old pool closes when its last query ends."""
        if newest is None or newest is self._pool:
            return
        old, self._pool = self._pool, newest
        self._switched_at = time.monotonic()
        if old is not None:
            old.retire()

    def _acquire(self) -> _Pool:
        while True:
            pool = self._current()
            if pool.acquire():
                return pool

    def unpublished(self) -> bool:
        """Whether queries now read the writer's file: writes wait for a snapshot and this
        reader must see every commit."""
        return self._exact and deferred_path(self.warehouse).exists()

    @contextmanager
    def held(self) -> Iterator[str]:
        """Answer this thread's queries in the block from one connection, so several queries
        see one state (and open the writer's file once). Yields what they read: ``snapshot
        gN``, or ``warehouse file`` while writes wait for a snapshot."""
        if getattr(self._held, "conn", None) is not None:
            yield self._held.source
            return
        with self._open() as (conn, source):
            self._held.conn, self._held.source = conn, source
            try:
                yield source
            finally:
                self._held.conn = None

    @contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's held connection, else one of its own (``_open``)."""
        held = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        with self._open() as (conn, _):
            yield conn

    @contextmanager
    def _open(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        """The newest snapshot, or the writer's file under the writer lock (``unpublished``),
        with what it is: the source and the connection are decided by one look."""
        if self.unpublished():
            with write_lock(self.warehouse, self._lock_timeout):
                conn = connect_writable(self.warehouse, self._config, self._lock_timeout)
                try:
                    yield conn, "warehouse file"
                finally:
                    conn.close()
            return
        pool = self._acquire()
        with pool.connection() as conn:
            yield conn, f"snapshot g{pool.info.generation}"

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run one parameterized query (``?`` or ``$name`` placeholders) on the newest snapshot."""
        with self._connection() as conn:
            return conn.execute(sql, params).df()

    def records(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Like :meth:`query`, as one dict per row: the cheapest shape for a JSON answer."""
        with self._connection() as conn:
            cursor = conn.execute(sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def snapshot_info(self) -> SnapshotInfo:
        """The snapshot queries currently run against (path, generation, published at, age)."""
        return self._current().info

    def partitions(self, table: str) -> pd.DataFrame:
        """Partitions of ``table`` the warehouse holds: key, written_at, rows, write_id, run."""
        return self.query(PARTITIONS_SQL, [table])

    def missing_partitions(self, table: str, keys: Sequence[str]) -> list[str]:
        """Keys never written to ``table``; empty means the warehouse covers the request."""
        return self.query(MISSING_SQL, [list(keys), table])["partition_key"].tolist()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        with self._switch:
            self._closed = True
            if self._pool is not None:
                self._pool.retire()
                self._pool = None

    def __enter__(self) -> WarehouseReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
