"""Queueing for the one warehouse file: writers from any process take turns instead of failing.

DuckDB lets a single process hold a database file for writing and then refuses every other
open, even read-only. Writers therefore take an exclusive ``flock`` on ``<file>.lock`` for the
length of one write (released by the kernel if the process dies, even on SIGKILL), and still
retry DuckDB's own lock error in case something outside Twilight holds the file.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

_MAX_BACKOFF = 0.5


class WarehouseBusyError(TimeoutError):
    """The warehouse stayed locked by another writer for longer than the timeout."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def _backoff(delay: float) -> float:
    time.sleep(delay)
    return min(delay * 2, _MAX_BACKOFF)


@contextmanager
def write_lock(warehouse: Path, timeout: float) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse``, waiting up to ``timeout`` seconds."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
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
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def connect_writable(
    warehouse: Path, config: dict[str, str | int], timeout: float
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, retrying while another process holds DuckDB's lock."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    deadline, delay = time.monotonic() + timeout, 0.01
    while True:
        try:
            return duckdb.connect(str(warehouse), config=dict(config))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            delay = _backoff(delay)
