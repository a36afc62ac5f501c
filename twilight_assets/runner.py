"""Materialize tables over a date range in-process: what `make demo` and the tests run.

Assets are grouped by their partition set (reference, trade dates, week ends, month ends); each
group runs as one Dagster run over the partition range, recorded in the instance like any run.
"""

from collections.abc import Callable, Sequence

from dagster import (
    AssetChecksDefinition,
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    DynamicPartitionsDefinition,
    ExecuteInProcessResult,
    materialize,
)

from twilight_assets.dagster_shim import partition_range_tags
from twilight_assets.definitions import defs
from twilight_resources.catalog import check_writes
from twilight_resources.warehouse.io_manager import run_tables_tag


def _assets_for(apis: Sequence[str], location: Definitions) -> list[AssetsDefinition]:
    wanted = set(apis)
    return [
        a
        for a in location.assets or []
        if isinstance(a, AssetsDefinition) and a.key.path[-1] in wanted
    ]


def _checks_for(
    assets: Sequence[AssetsDefinition], location: Definitions
) -> list[AssetChecksDefinition]:
    """The asset checks of ``assets``: a run that includes them evaluates them after the
    materializations, as a UI or CLI run of the same selection does."""
    keys = {a.key for a in assets}
    return [
        c for c in location.asset_checks or []
        if isinstance(c, AssetChecksDefinition) and {k.asset_key for k in c.check_keys} <= keys
    ]  # fmt: skip


def keys_in_range(
    instance: DagsterInstance, partitions: DynamicPartitionsDefinition, start: str, end: str
) -> list[str]:
    assert partitions.name is not None
    return sorted(k for k in instance.get_dynamic_partitions(partitions.name) if start <= k <= end)


def materialize_tables(
    apis: Sequence[str],
    instance: DagsterInstance,
    *,
    start: str = "00000000",
    end: str = "99999999",
    on_group: Callable[[str, int], None] | None = None,
    with_checks: bool = False,
    location: Definitions = defs,
    raise_on_error: bool = True,
) -> list[ExecuteInProcessResult]:
    """Materialize raw and normalized assets of ``apis`` for partitions in [start, end].

    ``with_checks`` also runs their asset checks (off by default: most tests assert on the
    tables, and the checks would double their time). ``location`` is the code location whose
    assets these are (the house's by default). With ``raise_on_error`` off, a failed step
    fails its run's result instead of raising, and the other steps still run.
    """
    groups: dict[str | None, list[AssetsDefinition]] = {}
    for asset_def in _assets_for(apis, location):
        partitions = asset_def.partitions_def
        name = partitions.name if isinstance(partitions, DynamicPartitionsDefinition) else None
        groups.setdefault(name, []).append(asset_def)
    results = []
    for name, group in sorted(groups.items(), key=lambda item: item[0] or ""):
        paths = [key.path for asset_def in group for key in asset_def.keys]
        tags = run_tables_tag(paths, check_writes() if with_checks else None)
        if name is not None:
            partitions = group[0].partitions_def
            assert isinstance(partitions, DynamicPartitionsDefinition)
            keys = keys_in_range(instance, partitions, start, end)
            if not keys:
                continue
            tags |= partition_range_tags(keys[0], keys[-1])
            if on_group:
                on_group(name, len(keys))
        elif on_group:
            on_group("reference", 1)
        selected = [*group, *_checks_for(group, location)] if with_checks else group
        results.append(
            materialize(
                selected,
                instance=instance,
                resources=location.resources,
                tags=tags,
                raise_on_error=raise_on_error,
            )
        )
    return results
