"""Batch work yields the CPU to serving.

A backfill normalizes and writes in bursts; on a small machine those bursts would otherwise
delay every read the API and MCP server answer meanwhile. Dagster steps therefore run at a
higher niceness: fetching at ``TWILIGHT_FETCH_NICENESS`` (a fetcher late for its call slot
wastes budget), and from their first warehouse access on at ``TWILIGHT_BATCH_NICENESS``. They
still get all the CPU nobody else wants.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def lower_priority(niceness: int) -> int:
    """Raise this process's niceness to at least ``niceness``; returns the niceness now."""
    current = os.nice(0)
    if niceness > current:
        current = os.nice(niceness - current)
        log.debug("running at niceness %d", current)
    return current
