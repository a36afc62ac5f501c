"""Queueing for the one warehouse file: writers from any process take turns instead of failing.

DuckDB lets a single process hold a database file for writing and then refuses every other
open, even read-only. Writers therefore take an exclusive ``flock`` on ``<file>.lock`` for the
length of one write (released by the kernel if the process dies, even on SIGKILL), and still
retry DuckDB's own lock error in case something outside Twilight holds the file.

While a writer waits for its turn it holds a shared ``flock`` on ``<file>.queue``, so the
writer ahead of it can see that the warehouse is about to change again (:func:`writers_waiting`)
and leave publishing the read snapshot to the last writer of the queue.

The lock is reentrant within a thread: a reader holding it for several queries (``reader``)
may call code that takes it again.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb

from twilight_resources.warehouse.connections import connect

_MAX_BACKOFF = 0.5
_held = threading.local()  # lock files this thread holds


class WarehouseBusyError(TimeoutError):
    """The warehouse stayed locked by another writer for longer than the timeout."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def queue_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".queue")


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _backoff(delay: float) -> float:
    time.sleep(delay)
    return min(delay * 2, _MAX_BACKOFF)


@contextmanager
def write_lock(warehouse: Path, timeout: float, *, writer: bool = False) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse``, waiting up to ``timeout`` seconds.

    A ``writer`` (one that changes the warehouse) is counted as waiting while it queues.
    """
    path = lock_path(warehouse)
    holding: set[Path] = _held.__dict__.setdefault("paths", set())
    if path in holding:  # this thread holds it already
        yield
        return
    fd = _open(path)
    waiting = _open(queue_path(warehouse)) if writer else None
    try:
        if waiting is not None:
            fcntl.flock(waiting, fcntl.LOCK_SH)
        deadline, delay = time.monotonic() + timeout, 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = path.read_text(encoding="utf-8", errors="replace").strip()
                    raise WarehouseBusyError(
                        f"{warehouse} is still being written after {timeout:.0f}s "
                        f"(lock holder: {holder or 'unknown'})"
                    ) from None
                delay = _backoff(delay)
        if waiting is not None:
            os.close(waiting)  # its turn has come: no longer waiting
            waiting = None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        holding.add(path)
        try:
            yield
        finally:
            holding.discard(path)
    finally:
        if waiting is not None:
            os.close(waiting)
        os.close(fd)


def writers_waiting(warehouse: Path) -> bool:
    """Whether another writer is queued for the lock (asked by the lock holder)."""
    fd = _open(queue_path(warehouse))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def connect_writable(
    warehouse: Path, config: Mapping[str, str | int], timeout: float
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, retrying while another process holds DuckDB's lock."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    deadline, delay = time.monotonic() + timeout, 0.01
    while True:
        try:
            return connect(warehouse, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            delay = _backoff(delay)
