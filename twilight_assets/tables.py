"""The raw and normalized assets of every catalog table, and the code a few tables add.

Everything a table's asset pair needs comes from its catalog entry; what cannot be data (a hook
after normalizing, a second source) is keyed here by API.
"""

from __future__ import annotations

from dagster import AssetsDefinition

from twilight_assets.factory import AlternateSource, Hook, UpstreamTable, build_table_assets
from twilight_assets.partitions import partitions_for
from twilight_assets.planners import planner_for
from twilight_assets.prices.fallback import AkshareFallback, count_sources
from twilight_assets.reference.assets import register_partitions
from twilight_resources.catalog import CATALOG, Catalog, Table

# trade_cal turns the stored calendar into partitions; daily counts rows per source.
AFTER_NORMALIZE: dict[str, Hook] = {"trade_cal": register_partitions, "daily": count_sources}
ALTERNATES: dict[str, AlternateSource] = {"daily": AkshareFallback()}


def upstream_table(entry: Table) -> UpstreamTable:
    return UpstreamTable(
        api=entry.api,
        group=entry.group,
        description=entry.description,
        plan=planner_for(entry),
        partitions=partitions_for(entry.grain),
        partition_column=entry.partition_column,
        after_normalize=AFTER_NORMALIZE.get(entry.api),
        extra_deps=entry.extra_deps,
        refresh=entry.refresh,
        alternate=ALTERNATES.get(entry.api),
    )


def upstream_tables(catalog: Catalog) -> dict[str, UpstreamTable]:
    return {entry.api: upstream_table(entry) for entry in catalog}


def build_assets(catalog: Catalog) -> list[AssetsDefinition]:
    return [a for table in upstream_tables(catalog).values() for a in build_table_assets(table)]


TABLES = upstream_tables(CATALOG)
