"""The two Dagster names the house needs that Dagster keeps in private modules.

Everything else imports public ``dagster``; when either becomes public it moves there and
leaves this module.
"""

from dagster._core.definitions.unresolved_asset_job_definition import (
    # The type ``define_asset_job`` returns: the jobs schedules are built on are annotated with it.
    UnresolvedAssetJobDefinition,
)
from dagster._core.storage.tags import (
    # No public parameter asks one run (``materialize``, ``RunRequest``) for a partition range.
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

__all__ = ["UnresolvedAssetJobDefinition", "partition_range_tags"]


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags asking one run for the partitions from ``first`` to ``last``."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
