"""What a step process imports beyond the code location, imported once by the forkserver.

Step processes fork from a server that preloads the code location (``definitions.executor``).
Left to themselves they would each still import the Dagster instance's storage (SQLAlchemy,
Alembic, the SQLite or Postgres backends) and, for ``daily`` and the cross-source check, AKShare:
0.7 s of CPU per step on a small machine, for every step of every run. Imported here, the
forked steps share them.
"""

import importlib
from contextlib import suppress

from twilight_resources.akshare.client import AkshareUnavailableError, load_akshare

MODULES = (
    "dagster._core.instance.factory",
    "dagster._core.storage.root",
    "dagster._core.storage.migration",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log.sqlite",
    "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.schedules.sqlite",
    "dagster._core.storage.local_compute_log_manager",
    "dagster_postgres",  # deploy/: the instance on Postgres
    "dagster._core.workspace.autodiscovery",
    "dagster._core.definitions.repository_definition.repository_data_builder",
    "dagster._core.system_config.composite_descent",
    "dagster._core.utility_ops",
    "dagster._utils.temp_file",
    "httpcore",  # httpx's transport, imported at the first request
    "upath",
)

for name in MODULES:
    with suppress(ImportError):  # dagster_postgres is installed where deploy/ runs
        importlib.import_module(name)
with suppress(AkshareUnavailableError):  # steps that need it report it missing themselves
    load_akshare()
