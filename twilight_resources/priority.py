"""Batch work yields the CPU to serving.

A backfill normalizes and writes in bursts; on a small machine those bursts would otherwise
delay every read the API and MCP server answer meanwhile. Dagster steps therefore run at a
higher niceness: fetching at ``TWILIGHT_FETCH_NICENESS`` (a fetcher late for its call slot
wastes budget), and from their first warehouse access on at ``TWILIGHT_BATCH_NICENESS``. They
still get all the CPU nobody else wants.

Niceness alone is not enough where the kernel groups tasks by session (autogroup, on by
default in most distributions): the CPU is first shared equally between sessions and only then
by niceness within one, so a backfill's sessions would each get as much CPU as the read API's.
A new session started for batch work therefore also gives its whole group the niceness
(:func:`lower_session_priority`).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def lower_priority(niceness: int) -> int:
    """Raise this process's niceness to at least ``niceness``; returns the niceness now."""
    current = os.nice(0)
    if niceness > current:
        current = os.nice(niceness - current)
        log.debug("running at niceness %d", current)
    return current


def lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's niceness (Linux schedules threads one by one): a serving
    process's housekeeping thread then yields the CPU to the threads answering requests."""
    tid = threading.get_native_id()
    try:
        if niceness > os.getpriority(os.PRIO_PROCESS, tid):
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except OSError as exc:
        log.debug("thread niceness not set: %s", exc)


AUTOGROUP = Path("/proc/self/autogroup")


def lower_session_priority(niceness: int) -> None:
    """Give this process's session (its scheduler autogroup) ``niceness``, where the kernel
    groups by session; call it in a session leader that runs only batch work."""
    try:
        AUTOGROUP.write_text(f"{niceness}\n")
    except OSError as exc:  # no autogroups (kernel config, containers): niceness alone
        log.debug("session niceness not set: %s", exc)
