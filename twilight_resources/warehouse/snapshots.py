"""Immutable read snapshots: how readers query while the writer holds the warehouse file.

While a writer has the DuckDB file open nobody else may open it, and a read-only reader would
keep the writer out. So readers never open the warehouse itself. After each committed write
the writer checkpoints, closes, and publishes a copy::

    <dir>/warehouse.duckdb                      the writer's file (nobody else opens it)
    <dir>/warehouse.duckdb.lock                 flock queue of writers
    <dir>/snapshots/warehouse-g00000042.duckdb  immutable copies, the newest ``keep`` kept
    <dir>/snapshots/warehouse.current.json      pointer: which copy is current, and when

A writer that sees another writer queued behind it leaves the copy to that one and marks the
snapshot deferred (``warehouse.deferred``); the last writer of a queue always publishes, so a
burst of writes costs one copy. Readers that must see every committed write (asset checks,
planners, the CLI) publish a deferred snapshot before they read (:func:`publish_deferred`).

A copy is written under a hidden temporary name, fsynced and renamed; then the pointer is
replaced atomically. Readers open the pointed-to copy read-only and move to a newer one when
the pointer changes. Deleting an old copy is safe on Linux: open connections keep reading the
unlinked file; a reader that finds its target gone re-reads the pointer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from twilight_resources.warehouse import statement_rows
from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.locking import connect_writable, write_lock
from twilight_resources.warehouse.schema import apply_ddl

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
TMP_PREFIX = ".tmp-"
# A snapshot holding this table has the whole schema (every write applies the DDL first).
COMPLETE_MARK = "meta_partition_ledger"


@dataclass(frozen=True)
class SnapshotInfo:
    """One published snapshot, as the pointer describes it."""

    path: Path
    generation: int
    published_at: datetime
    size_bytes: int

    @property
    def age_seconds(self) -> float:
        return (datetime.now(UTC) - self.published_at).total_seconds()


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


def read_pointer(warehouse: Path) -> SnapshotInfo | None:
    """The current snapshot, or None if nothing has been published yet.

    A pointer that is missing, does not parse, names a file outside the snapshot folder or a
    file that is gone does not stop anyone: the newest complete snapshot is used instead, and
    the problem is logged once. The next publish (any write, ``twilight publish``) writes a
    good pointer again.
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
    """The snapshot the pointer names if it is good, else None and what is wrong."""
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
        if info.path.is_file():
            return info, ""
        if text == seen:  # still naming a file that is gone: not a publish racing us
            return None, f"names {info.path.name}, which does not exist"
        seen = text
    return None, "changing too fast to read"


class PointerError(ValueError):
    """The snapshot pointer's content is not a pointer to a snapshot of its folder."""


_POINTER_ATTEMPTS = 3
_problems: dict[Path, str] = {}  # pointer -> the problem last logged for it
_problems_lock = threading.Lock()
_verified: dict[tuple[Path, int, int, int], bool] = {}  # (path, inode, size, mtime) -> complete
_VERIFIED_MAX = 64


def _parse_pointer(warehouse: Path, text: str) -> SnapshotInfo:
    try:
        doc = json.loads(text)
        name = doc["file"]
        info = SnapshotInfo(
            path=snapshot_dir(warehouse) / str(name),
            generation=int(doc["generation"]),
            published_at=datetime.fromisoformat(doc["published_at"]),
            size_bytes=int(doc["size_bytes"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise PointerError(f"corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(name, str) or not _is_snapshot_name(warehouse, name):
        raise PointerError(f"names {str(name)[:80]!r}, which is not a snapshot of its folder")
    return info


def _is_snapshot_name(warehouse: Path, name: str) -> bool:
    """A bare file name of this warehouse's snapshots (no folder, so nothing outside)."""
    return re.fullmatch(re.escape(warehouse.stem) + r"-g\d{1,12}\.duckdb", name) is not None


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
    """The newest snapshot file (other than ``skip``) that opens read-only and holds the
    warehouse's schema."""
    for path in reversed(_generations(warehouse)):
        if path == skip:
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if _complete(path, st):
            return SnapshotInfo(
                path=path,
                generation=_generation_of(path),
                published_at=datetime.fromtimestamp(st.st_mtime, UTC),
                size_bytes=st.st_size,
            )
    return None


def _complete(path: Path, st: os.stat_result) -> bool:
    key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _verified:
        if len(_verified) > _VERIFIED_MAX:  # snapshots come and go; forget the old ones
            _verified.clear()
        try:
            conn = connect(path, read_only=True, config={"threads": 1})
            try:
                found = conn.execute(
                    "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [COMPLETE_MARK]
                ).fetchone()
            finally:
                conn.close()
            _verified[key] = bool(found and found[0])
        except (duckdb.Error, OSError) as exc:
            log.info("snapshot %s is not usable: %s", path, exc)
            _verified[key] = False
    return _verified[key]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _copy_durably(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    with open(target, "rb+") as fh:
        os.fsync(fh.fileno())


def _generation_of(snapshot: Path) -> int:
    return int(snapshot.stem.rsplit("-g", 1)[1])


def _generations(warehouse: Path) -> list[Path]:
    """Published snapshot files, oldest first."""
    found = snapshot_dir(warehouse).glob(f"{warehouse.stem}-g*.duckdb")
    return sorted((p for p in found if _is_snapshot_name(warehouse, p.name)), key=_generation_of)


def publish_locked(warehouse: Path, *, keep: int = 2) -> SnapshotInfo:
    """Copy the closed, checkpointed warehouse into a new snapshot and point readers at it.

    The caller holds the writer lock and has checkpointed (see :func:`publish_snapshot`).
    """
    if keep < 1:
        raise ValueError("keep at least the current snapshot")
    directory = snapshot_dir(warehouse)
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob(f"{TMP_PREFIX}*"):  # from a publish killed mid-way
        leftover.unlink(missing_ok=True)

    current = read_pointer(warehouse)
    existing = [_generation_of(p) for p in _generations(warehouse)]
    generation = max([current.generation if current else 0, *existing]) + 1
    name = f"{warehouse.stem}-g{generation:08d}.duckdb"
    staging = directory / f"{TMP_PREFIX}{name}"
    pointer_tmp = directory / f"{TMP_PREFIX}{pointer_path(warehouse).name}"
    try:
        _copy_durably(warehouse, staging)
        os.rename(staging, directory / name)
        info = SnapshotInfo(
            path=directory / name,
            generation=generation,
            published_at=datetime.now(UTC),
            size_bytes=(directory / name).stat().st_size,
        )
        doc = {
            "file": name,
            "generation": generation,
            "published_at": info.published_at.isoformat(),
            "size_bytes": info.size_bytes,
        }
        _write_durably(pointer_tmp, json.dumps(doc).encode())
        os.replace(pointer_tmp, pointer_path(warehouse))
    except BaseException:
        # A full disk must not keep a half copy (the writer marks the snapshot deferred).
        staging.unlink(missing_ok=True)
        pointer_tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    deferred_path(warehouse).unlink(missing_ok=True)
    for old in _generations(warehouse)[:-keep]:
        old.unlink(missing_ok=True)
    return info


def publish_snapshot(
    warehouse: Path | str, *, keep: int = 2, timeout: float = 600.0
) -> SnapshotInfo:
    """Publish the warehouse's committed state for readers (``twilight publish``).

    Folds any WAL left by a writer that died after committing, and creates the schema in a
    fresh warehouse so readers of a new install see empty tables rather than an error.
    """
    warehouse = Path(warehouse)
    with write_lock(warehouse, timeout, writer=True):
        conn = connect_writable(warehouse, {}, timeout)
        try:
            apply_ddl(conn)
            statement_rows.ensure(conn)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        return publish_locked(warehouse, keep=keep)


def publish_deferred(
    warehouse: Path | str, *, keep: int = 2, timeout: float = 600.0
) -> SnapshotInfo | None:
    """Publish the snapshot a writer deferred, if any; the new snapshot, else None.

    Costs one ``stat`` when nothing is deferred. Writers checkpoint before they let go of the
    lock, so the file is copied as it is.
    """
    warehouse = Path(warehouse)
    if not deferred_path(warehouse).exists():
        return None
    with write_lock(warehouse, timeout):
        if not deferred_path(warehouse).exists():  # published by the writer queued next
            return None
        return publish_locked(warehouse, keep=keep)
