"""The one place the Dagster code location is assembled; nothing is defined here."""

import os

from dagster import Definitions, multiprocess_executor

from twilight_assets import quality
from twilight_assets.checks import checks
from twilight_assets.financials import assets as financial_assets
from twilight_assets.financials import checks as financial_checks
from twilight_assets.financials import schedules as financial_schedules
from twilight_assets.financials import sensors as financial_sensors
from twilight_assets.indexes import assets as index_assets
from twilight_assets.indexes import schedules as index_schedules
from twilight_assets.prices import assets as price_assets
from twilight_assets.prices import schedules as price_schedules
from twilight_assets.reference import assets as reference_assets
from twilight_assets.reference import schedules as reference_schedules
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
# and every asset again (seconds per step on a small machine).
executor = multiprocess_executor.configured(
    {
        "max_concurrent": 6,
        "start_method": {"forkserver": {"preload_modules": ["twilight_assets.definitions"]}},
    }
)

defs = Definitions(
    assets=[
        *reference_assets.assets,
        *price_assets.assets,
        *index_assets.assets,
        *financial_assets.assets,
    ],
    schedules=[
        *reference_schedules.schedules,
        *price_schedules.schedules,
        *index_schedules.schedules,
        *financial_schedules.schedules,
    ],
    sensors=financial_sensors.sensors,
    asset_checks=[*checks, *financial_checks.checks, *quality.checks],
    executor=executor,
    resources={"tushare": TushareResource(), "io_manager": DuckDBWarehouseIOManager()},
)
