"""Publish what a run that ended early left unpublished.

A run publishes one read snapshot, after its last normalized write. A run that fails, is
canceled or dies before that write leaves its committed writes waiting for a snapshot: the
asset checks and the CLI read them from the warehouse file, but serving readers only see a
snapshot. This sensor publishes them once no run is in progress (the next run's last write
would publish them too, but the next run may be a day away), or after ``MAX_LAG_S`` whatever
runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from twilight_resources.settings import get_settings
from twilight_resources.warehouse.snapshots import deferred_since, publish_deferred

IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
MAX_LAG_S = 1800.0  # a run writing for longer than this is published while it runs
LOCK_TIMEOUT_S = 20.0  # a tick waits this long for writers, then tries again next tick


@sensor(
    name="publish_unpublished_writes",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Publishes a read snapshot of writes that a run which ended early (failed, "
    "canceled, killed) left unpublished.",
)
def publish_unpublished_writes(context: SensorEvaluationContext) -> SkipReason:
    warehouse = get_settings().warehouse_file
    since = deferred_since(warehouse)
    if since is None:
        return SkipReason("every committed write is in the published snapshot")
    lag = (datetime.now(UTC) - since).total_seconds()
    running = context.instance.get_runs_count(RunsFilter(statuses=IN_PROGRESS))
    if running and lag < MAX_LAG_S:
        return SkipReason(f"{running} run(s) in progress: the last write of each publishes")
    try:
        info = publish_deferred(warehouse, timeout=LOCK_TIMEOUT_S)
    except TimeoutError:
        return SkipReason(f"writers held the warehouse for {LOCK_TIMEOUT_S:.0f} s; next tick")
    if info is None:
        return SkipReason("a writer published meanwhile")
    return SkipReason(
        f"published generation {info.generation}: writes waiting {lag:.0f} s for a snapshot"
    )


sensors = [publish_unpublished_writes]
