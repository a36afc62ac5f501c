"""The DuckDB warehouse: DDL-derived schemas, the only writer, and snapshot readers.

Writers (Dagster steps, via :class:`DuckDBWarehouseIOManager`) own ``warehouse.duckdb``;
serving processes read immutable snapshots through :class:`WarehouseReader`.
"""

from typing import TYPE_CHECKING

from twilight_resources.warehouse.locking import WarehouseBusyError
from twilight_resources.warehouse.normalize import NormalizedBatch, normalize_frame
from twilight_resources.warehouse.reader import SnapshotUnavailableError, WarehouseReader
from twilight_resources.warehouse.schema import (
    TableSpec,
    UnknownTableError,
    all_tables,
    apply_ddl,
    table_for_asset_key,
    table_spec,
)
from twilight_resources.warehouse.snapshots import SnapshotInfo, publish_snapshot, read_pointer
from twilight_resources.warehouse.writer import PublishError, WarehouseWriter, WriteResult

if TYPE_CHECKING:  # the checker sees the class; at run time __getattr__ imports it on demand
    from twilight_resources.warehouse.io_manager import DuckDBWarehouseIOManager


def __getattr__(name: str) -> object:
    """Import the IO manager (and with it Dagster) only when asked: readers stay light."""
    if name == "DuckDBWarehouseIOManager":
        from twilight_resources.warehouse.io_manager import DuckDBWarehouseIOManager

        return DuckDBWarehouseIOManager
    raise AttributeError(name)


__all__ = [
    "DuckDBWarehouseIOManager",
    "NormalizedBatch",
    "PublishError",
    "SnapshotInfo",
    "SnapshotUnavailableError",
    "TableSpec",
    "UnknownTableError",
    "WarehouseBusyError",
    "WarehouseReader",
    "WarehouseWriter",
    "WriteResult",
    "all_tables",
    "apply_ddl",
    "normalize_frame",
    "publish_snapshot",
    "read_pointer",
    "table_for_asset_key",
    "table_spec",
]
