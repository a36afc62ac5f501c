"""Batch work yields the CPU to serving.

A backfill normalizes and writes in bursts; on a small machine those bursts would otherwise
delay every read the API and MCP server answer meanwhile. Dagster steps therefore run at a
higher niceness (``TWILIGHT_BATCH_NICENESS``): they still get all the CPU nobody else wants.
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
