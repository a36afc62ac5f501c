"""The one place the Dagster code location is assembled, from the table catalog."""

import os

from dagster import Definitions, multiprocess_executor

from twilight_assets import checks, publishing, quality
from twilight_assets.financials import checks as financial_checks
from twilight_assets.financials import sensors as financial_sensors
from twilight_assets.schedules import build_schedules
from twilight_assets.tables import build_assets
from twilight_resources.catalog import CATALOG, Catalog, check_writes
from twilight_resources.tushare import TushareResource
from twilight_resources.warehouse import DuckDBWarehouseIOManager

# A single-run backfill would otherwise log one "materialization planned" event per asset and
# partition before its first step (1,452 events, 21 s, for 3 tables x 1 year on SQLite); with
# this, one per asset. Failed runs then mark no partition as failed: the ledger knows what is held.
# Processes that create runs without importing this module (dagster dev's webserver and daemon,
# deploy/compose.yaml) get it from their environment.
os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")

# Steps mostly wait on the shared upstream budget, not the CPU: letting every raw step of a run
# fetch at once keeps the budget busy while other steps normalize and write. Step processes fork
# from a server that imported the code location once, instead of each importing Dagster, pandas
# and every asset again (seconds per step on a small machine); twilight_assets.preload adds what
# a step imports beyond them.
executor = multiprocess_executor.configured(
    {
        "max_concurrent": 6,
        "start_method": {
            "forkserver": {
                "preload_modules": ["twilight_assets.definitions", "twilight_assets.preload"]
            }
        },
    }
)

CHECK_KINDS = (*checks.KINDS, *financial_checks.KINDS)


def build_definitions(catalog: Catalog) -> Definitions:
    """Assets, schedules and checks of every table of ``catalog`` (checked to be whole first),
    with the sensors and cross-source checks that are code rather than catalog."""
    catalog.validate()
    return Definitions(
        assets=build_assets(catalog),
        schedules=build_schedules(catalog),
        sensors=[*financial_sensors.sensors, *publishing.sensors],
        asset_checks=[*checks.build_checks(catalog, CHECK_KINDS), *quality.checks],
        executor=executor,
        resources={
            "tushare": TushareResource(),
            "io_manager": DuckDBWarehouseIOManager(check_writes=check_writes(catalog)),
        },
    )


defs = build_definitions(CATALOG)
