"""Immutable read snapshots made of parts: a publish writes only what changed.

While a writer has the DuckDB file open nobody else may open it, and a read-only reader would
keep the writer out. So readers never open the warehouse itself: the writer publishes
generations of read-only files, each a directory of parts::

    <dir>/warehouse.duckdb                         the writer's file (nobody else opens it)
    <dir>/warehouse.duckdb.lock                    flock queue of writers
    <dir>/snapshots/warehouse-g00000042/           one generation, never changed once named
        normalized_daily.y2024.duckdb              a dated table's rows of one year, key order
        normalized_stock_basic.duckdb              a small table whole
        manifest.json                              its parts, their rows and bytes, the views
    <dir>/snapshots/warehouse.current.json         pointer: which generation is current

A part is one DuckDB file holding one table (or one year of a dated table, see ``parts``),
written sorted by its primary key, so range reads touch few row groups and the writer never
re-sorts its own tables. A publish exports the parts that writes marked dirty (in their own
transactions, ``meta_dirty_parts``) or whose table's columns changed, and hard-links every other
part from the previous generation: a one-day write copies the current year of the tables it
touched plus the small bookkeeping tables, whatever the history held. The raw layer is never
published. DuckLake (catalog plus Parquet, snapshots built in) would be the other way, but its
extension is built for DuckDB 1.4/1.5 and the warehouse runs 2.0.1.

A generation is assembled under a hidden temporary name, fsynced with its manifest and renamed;
then the pointer is replaced atomically; only then are the dirty marks cleared, so a publish
killed at any step leaves readers on the previous generation and the next publish exports what
that one lacks. Old generations are removed once the new pointer is durable, keeping ``keep``:
hard links share the inode and open files stay readable on Linux, so a reader still on an old
generation keeps reading it, and one that finds a generation gone while attaching it re-reads
the pointer.

A run publishes once, after its last normalized write (``writer``); its earlier writes
and a write outside a run that sees another writer queued behind it mark the snapshot
deferred (``warehouse.deferred``) and leave the publish to that one. Readers that must see every
committed write (asset checks, planners, the CLI) read the writer's file while the marker is
there; serving readers wait for the publish. A run that ends before its last write leaves the
marker: the CLI that ran it, or a sensor once no run is in progress, calls
:func:`publish_deferred`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from twilight_resources.warehouse import parts, statement_rows
from twilight_resources.warehouse.locking import connect_writable, write_lock
from twilight_resources.warehouse.schema import apply_ddl, quote

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
TMP_PREFIX = ".tmp-"
MANIFEST = "manifest.json"
PART_ALIAS = "snapshot_part"  # the writer's name for the part file it is exporting


@dataclass(frozen=True)
class SnapshotInfo:
    """One published generation, as the pointer describes it (``path``: its directory)."""

    path: Path
    generation: int
    published_at: datetime
    size_bytes: int

    @property
    def age_seconds(self) -> float:
        return (datetime.now(UTC) - self.published_at).total_seconds()


@dataclass(frozen=True)
class Part:
    """One file of a generation: ``table``'s rows, or those dated in year ``bucket``."""

    table: str
    bucket: int | None
    file: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """What a generation holds: its parts, each table's columns, the views over them."""

    generation: int
    write_id: int  # the last write it holds
    published_at: datetime
    parts: tuple[Part, ...]
    columns: dict[str, str]  # table -> its column list, to tell when a table's shape changed
    views: tuple[str, ...]  # CREATE VIEW statements, in creation order

    def tables(self) -> list[str]:
        return list(dict.fromkeys(p.table for p in self.parts))

    def to_json(self) -> str:
        doc = asdict(self)
        doc["published_at"] = self.published_at.isoformat()
        return json.dumps(doc, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        doc = json.loads(text)
        return cls(
            generation=int(doc["generation"]),
            write_id=int(doc["write_id"]),
            published_at=datetime.fromisoformat(doc["published_at"]),
            parts=tuple(Part(**p) for p in doc["parts"]),
            columns={str(k): str(v) for k, v in doc["columns"].items()},
            views=tuple(str(v) for v in doc["views"]),
        )


class ManifestError(ValueError):
    """A generation directory without a readable manifest, or missing a part it lists."""


def snapshot_dir(warehouse: Path) -> Path:
    return warehouse.parent / SNAPSHOT_DIR


def pointer_path(warehouse: Path) -> Path:
    return snapshot_dir(warehouse) / f"{warehouse.stem}.current.json"


def deferred_path(warehouse: Path) -> Path:
    """Present while committed writes wait for a snapshot (created and removed under the lock)."""
    return snapshot_dir(warehouse) / f"{warehouse.stem}.deferred"


def defer_locked(warehouse: Path) -> None:
    """Leave publishing to the writer queued next; the caller holds the writer lock."""
    marker = deferred_path(warehouse)
    marker.parent.mkdir(parents=True, exist_ok=True)
    if not marker.exists():  # its time is that of the oldest write not yet published
        marker.touch()


def deferred_since(warehouse: Path) -> datetime | None:
    """When the oldest committed write that no snapshot holds yet was deferred, if any."""
    try:
        return datetime.fromtimestamp(deferred_path(warehouse).stat().st_mtime, UTC)
    except FileNotFoundError:
        return None


def load_manifest(generation_dir: Path) -> Manifest:
    """The manifest of a generation whose listed parts all exist."""
    try:
        manifest = Manifest.from_json((generation_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{generation_dir.name} has no manifest") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise ManifestError(f"{generation_dir.name}: unreadable manifest ({exc})") from None
    for part in manifest.parts:
        if not _is_part_name(part.file) or not (generation_dir / part.file).is_file():
            raise ManifestError(f"{generation_dir.name} lacks its part {part.file}")
    return manifest


def read_pointer(warehouse: Path) -> SnapshotInfo | None:
    """The current snapshot, or None if nothing has been published yet.

    A pointer that is missing, does not parse, names a directory outside the snapshot folder or
    a generation that is gone does not stop anyone: the newest complete generation is used
    instead, and the problem is logged once. The next publish (any write, ``twilight publish``)
    writes a good pointer again.
    """
    info, problem = _named(warehouse)
    if info is not None:
        _problems.pop(pointer_path(warehouse), None)
        return info
    fallback = newest_complete(warehouse)
    if fallback is not None or problem != "missing":  # no pointer, no snapshot: a new install
        _report(pointer_path(warehouse), problem, fallback)
    return fallback


def pointer_problem(warehouse: Path) -> str | None:
    """What is wrong with the pointer ("missing", "corrupt (...)", ...); None if it is good."""
    return _named(warehouse)[1] or None


def _named(warehouse: Path) -> tuple[SnapshotInfo | None, str]:
    """The generation the pointer names if it is good, else None and what is wrong."""
    pointer = pointer_path(warehouse)
    seen = None
    for _ in range(_POINTER_ATTEMPTS):
        try:
            text = pointer.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, "missing"
        except (OSError, UnicodeDecodeError) as exc:
            return None, f"unreadable ({exc})"
        try:
            info = _parse_pointer(warehouse, text)
        except PointerError as exc:
            return None, str(exc)
        if (info.path / MANIFEST).is_file():
            return info, ""
        if text == seen:  # still naming a generation that is gone: not a publish racing us
            return None, f"names {info.path.name}, which does not exist"
        seen = text
    return None, "changing too fast to read"


class PointerError(ValueError):
    """The snapshot pointer's content is not a pointer to a generation of its folder."""


_POINTER_ATTEMPTS = 3
_problems: dict[Path, str] = {}  # pointer -> the problem last logged for it
_problems_lock = threading.Lock()


def _parse_pointer(warehouse: Path, text: str) -> SnapshotInfo:
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and "dir" not in doc and "file" in doc:
            raise PointerError(
                "from an earlier twilight (one file per snapshot); the next write or "
                "`twilight publish` publishes this version's generations"
            )
        name = doc["dir"]
        info = SnapshotInfo(
            path=snapshot_dir(warehouse) / str(name),
            generation=int(doc["generation"]),
            published_at=datetime.fromisoformat(doc["published_at"]),
            size_bytes=int(doc["size_bytes"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise PointerError(f"corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(name, str) or not _is_generation_name(warehouse, name):
        raise PointerError(f"names {str(name)[:80]!r}, which is not a snapshot of its folder")
    return info


def _is_generation_name(warehouse: Path, name: str) -> bool:
    """A bare directory name of this warehouse's generations (no folder, so nothing outside)."""
    return re.fullmatch(re.escape(warehouse.stem) + r"-g\d{1,12}", name) is not None


def _is_part_name(name: str) -> bool:
    return re.fullmatch(r"\w+(\.y\d{4})?\.duckdb", name) is not None


def _report(pointer: Path, problem: str, fallback: SnapshotInfo | None) -> None:
    """Log a pointer problem once, not on every look at the pointer."""
    with _problems_lock:
        if _problems.get(pointer) == problem:
            return
        _problems[pointer] = problem
    if fallback is None:
        log.warning("snapshot pointer %s is %s, and no complete snapshot exists", pointer, problem)
    else:
        log.warning(
            "snapshot pointer %s is %s; reading the newest complete snapshot %s instead (the "
            "next write or `twilight publish` writes a good pointer)",
            pointer, problem, fallback.path.name,
        )  # fmt: skip


def newest_complete(warehouse: Path, *, skip: Path | None = None) -> SnapshotInfo | None:
    """The newest generation (other than ``skip``) whose manifest reads and whose parts exist."""
    for path in reversed(_generations(warehouse)):
        if path == skip:
            continue
        try:
            manifest = load_manifest(path)
        except ManifestError as exc:
            log.info("snapshot %s is not usable: %s", path, exc)
            continue
        return _info(path, manifest)
    return None


def _info(path: Path, manifest: Manifest) -> SnapshotInfo:
    size = sum(p.bytes for p in manifest.parts)
    return SnapshotInfo(path, manifest.generation, manifest.published_at, size)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _generation_of(path: Path) -> int:
    return int(path.name.rsplit("-g", 1)[1].split(".", 1)[0])


def _generations(warehouse: Path) -> list[Path]:
    """Published generation directories, oldest first."""
    found = snapshot_dir(warehouse).glob(f"{warehouse.stem}-g*")
    named = (p for p in found if _is_generation_name(warehouse, p.name) and p.is_dir())
    return sorted(named, key=_generation_of)


def _legacy_files(warehouse: Path) -> list[Path]:
    """Whole-file snapshots of earlier versions (``warehouse-g00000007.duckdb``)."""
    found = snapshot_dir(warehouse).glob(f"{warehouse.stem}-g*.duckdb")
    return [p for p in found if re.fullmatch(r".*-g\d{1,12}\.duckdb", p.name)]


def _part_file(table: str, bucket: int | None) -> str:
    return f"{table}.duckdb" if bucket is None else f"{table}.y{bucket:04d}.duckdb"


def _shapes(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Published table -> its columns as declared now, in the writer's file."""
    rows = conn.execute(
        "SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' "
        "ORDER BY column_index) FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name IN (SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary) "
        "GROUP BY table_name ORDER BY table_name"
    ).fetchall()
    return {str(t): str(c) for t, c in rows if parts.published(str(t))}


def _views(conn: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT internal AND NOT temporary ORDER BY view_oid"
    ).fetchall()
    return tuple(str(r[0]) for r in rows)


def _export_part(
    conn: duckdb.DuckDBPyConnection, staging: Path, table: str, bucket: int | None
) -> Part:
    """Write ``table`` (its rows of year ``bucket``) to a new part file, in key order."""
    spec = parts.spec_of(table)
    column = parts.bucket_column(spec)
    where = ""
    if bucket is not None and column is not None:
        where = (
            f"WHERE {quote(column)} >= DATE '{bucket:04d}-01-01' "
            f"AND {quote(column)} < DATE '{bucket + 1:04d}-01-01'"
        )
    key = spec.primary_key if spec else ()
    order = f"ORDER BY {', '.join(quote(c) for c in key)}" if key else ""
    name = _part_file(table, bucket)
    target = staging / name
    conn.execute(f"ATTACH '{str(target).replace(chr(39), chr(39) * 2)}' AS {PART_ALIAS}")
    try:
        conn.execute(
            f"CREATE TABLE {PART_ALIAS}.{quote(table)} AS "
            f"SELECT * FROM main.{quote(table)} {where} {order}"
        )
        row = conn.execute(f"SELECT count(*) FROM {PART_ALIAS}.{quote(table)}").fetchone()
    finally:
        conn.execute(f"DETACH {PART_ALIAS}")
    _fsync(target)
    return Part(table, bucket, name, int(row[0]) if row else 0, target.stat().st_size)


def _link_part(previous: Path, staging: Path, part: Part) -> Part:
    os.link(previous / part.file, staging / part.file)
    return part


def _assemble(
    conn: duckdb.DuckDBPyConnection,
    staging: Path,
    previous: tuple[Path, Manifest] | None,
    *,
    full: bool,
) -> tuple[list[Part], dict[str, str]]:
    """Export the dirty parts into ``staging``, link the clean ones; the parts and shapes."""
    lagging = parts.dirty(conn)
    everything = full or previous is None or parts.WHOLE in lagging
    shapes = _shapes(conn)
    made: list[Part] = []
    for table, shape in shapes.items():
        old: dict[int | None, Part] = {}
        if previous is not None and previous[1].columns.get(table) == shape:
            old = {p.bucket: p for p in previous[1].parts if p.table == table}
        marks = lagging.get(table, set())
        whole = everything or not old or parts.WHOLE in marks
        column = parts.bucket_column(parts.spec_of(table))
        buckets: set[int | None]
        if column is None:
            buckets = {None}
        elif whole:
            found = conn.execute(f"SELECT DISTINCT year({quote(column)}) FROM {quote(table)}")
            buckets = set[int | None](int(r[0]) for r in found.fetchall())
        else:
            buckets = set[int | None](int(m) for m in marks) | {b for b in old if b is not None}
            buckets = buckets or {None}  # still empty: its empty part again
        kept: list[Part] = []
        for bucket in sorted(buckets, key=lambda b: -1 if b is None else b):
            prior = old.get(bucket)
            stale = whole or (str(bucket) in marks if bucket is not None else bool(marks))
            if prior is not None and previous is not None and not stale:
                kept.append(_link_part(previous[0], staging, prior))
                continue
            part = _export_part(conn, staging, table, bucket)
            if part.rows or bucket is None:
                kept.append(part)
            else:  # the year holds no rows any more
                (staging / part.file).unlink()
        if not kept:  # an empty dated table: one empty part gives readers its columns
            kept.append(_export_part(conn, staging, table, None))
        made.extend(kept)
    return made, shapes


def _previous(warehouse: Path) -> tuple[Path, Manifest] | None:
    """The generation readers are on now, to link its clean parts from."""
    current = read_pointer(warehouse)
    if current is None:
        return None
    try:
        return current.path, load_manifest(current.path)
    except ManifestError as exc:
        log.info("publishing every part again: %s", exc)
        return None


def _remove_leftovers(directory: Path) -> None:
    """Temporary generations and pointers of a publish killed mid-way."""
    for leftover in directory.glob(f"{TMP_PREFIX}*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _collect(warehouse: Path, keep: int) -> None:
    """Remove generations older than the newest ``keep`` (and whole-file snapshots of old)."""
    for old in _generations(warehouse)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for legacy in _legacy_files(warehouse):
        legacy.unlink(missing_ok=True)


def _last_write_id(conn: duckdb.DuckDBPyConnection) -> int:
    row = conn.execute("SELECT value FROM meta_counters WHERE name = 'write_id'").fetchone()
    return int(row[0]) if row else 0


def publish_locked(
    warehouse: Path, conn: duckdb.DuckDBPyConnection, *, keep: int = 2, full: bool = False
) -> SnapshotInfo:
    """Publish the committed state of ``conn``'s warehouse as a new generation.

    The caller holds the writer lock and has committed; ``full`` exports every part again
    rather than the dirty ones (for writes that bypassed the writer, and repairs).
    """
    if keep < 1:
        raise ValueError("keep at least the current snapshot")
    directory = snapshot_dir(warehouse)
    directory.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(directory)

    previous = _previous(warehouse)
    existing = [_generation_of(p) for p in (*_generations(warehouse), *_legacy_files(warehouse))]
    generation = max([previous[1].generation if previous else 0, *existing]) + 1
    name = f"{warehouse.stem}-g{generation:08d}"
    staging = directory / f"{TMP_PREFIX}{name}"
    pointer_tmp = directory / f"{TMP_PREFIX}{pointer_path(warehouse).name}"
    try:
        staging.mkdir()
        made, shapes = _assemble(conn, staging, previous, full=full)
        manifest = Manifest(
            generation=generation,
            write_id=_last_write_id(conn),
            published_at=datetime.now(UTC),
            parts=tuple(made),
            columns=shapes,
            views=_views(conn),
        )
        _write_durably(staging / MANIFEST, manifest.to_json().encode())
        _fsync_dir(staging)
        os.rename(staging, directory / name)
        _fsync_dir(directory)
        info = _info(directory / name, manifest)
        doc = {
            "dir": name,
            "generation": generation,
            "published_at": info.published_at.isoformat(),
            "size_bytes": info.size_bytes,
        }
        _write_durably(pointer_tmp, json.dumps(doc).encode())
        os.replace(pointer_tmp, pointer_path(warehouse))
        _fsync_dir(directory)
    except BaseException:
        # A full disk must not keep a half generation (the writer marks the snapshot deferred).
        shutil.rmtree(staging, ignore_errors=True)
        pointer_tmp.unlink(missing_ok=True)
        raise
    parts.clear(conn)
    conn.execute("CHECKPOINT")
    deferred_path(warehouse).unlink(missing_ok=True)
    _collect(warehouse, keep)
    return info


def publish_snapshot(
    warehouse: Path | str, *, keep: int = 2, timeout: float = 600.0, full: bool = True
) -> SnapshotInfo:
    """Publish the warehouse's committed state for readers (``twilight publish``).

    Folds any WAL left by a writer that died after committing, and creates the schema in a
    fresh warehouse so readers of a new install see empty tables rather than an error. Exports
    every part by default: it also serves writes that did not go through the writer.
    """
    warehouse = Path(warehouse)
    with write_lock(warehouse, timeout, writer=True):
        conn = connect_writable(warehouse, {}, timeout)
        try:
            apply_ddl(conn)
            statement_rows.ensure(conn)
            conn.execute("CHECKPOINT")
            return publish_locked(warehouse, conn, keep=keep, full=full)
        finally:
            conn.close()


def publish_deferred(
    warehouse: Path | str, *, keep: int = 2, timeout: float = 600.0
) -> SnapshotInfo | None:
    """Publish the snapshot a writer deferred, if any; the new snapshot, else None.

    Costs one ``stat`` when nothing is deferred.
    """
    warehouse = Path(warehouse)
    if not deferred_path(warehouse).exists():
        return None
    with write_lock(warehouse, timeout):
        if not deferred_path(warehouse).exists():  # published by the writer queued next
            return None
        conn = connect_writable(warehouse, {}, timeout)
        try:
            return publish_locked(warehouse, conn, keep=keep)
        finally:
            conn.close()
