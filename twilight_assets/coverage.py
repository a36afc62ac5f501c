"""What the warehouse already holds, read from the partition ledger of the published snapshot."""

from __future__ import annotations

from collections.abc import Sequence

from twilight_resources.settings import TwilightSettings
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.snapshots import publish_deferred, read_pointer


def fetched_partitions(settings: TwilightSettings, table: str, keys: Sequence[str]) -> set[str]:
    """Keys of ``table`` whose latest fetch returned rows; empty before the first snapshot.

    A fetch that came back empty (data not published upstream yet) does not count, so the next
    run asks again.
    """
    # A write whose publish failed is held but in no snapshot yet: publish it before looking,
    # or it would be fetched and written again.
    publish_deferred(settings.warehouse_file)
    if read_pointer(settings.warehouse_file) is None:
        return set()
    with WarehouseReader.from_settings(settings) as reader:
        ledger = reader.partitions(table)
    wanted = set(keys)
    return {
        k
        for k, rows in zip(ledger["partition_key"], ledger["rows"], strict=True)
        if k in wanted and rows > 0
    }
