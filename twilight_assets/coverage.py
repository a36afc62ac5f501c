"""What the raw layer already holds, read from the raw file's partition ledger."""

from __future__ import annotations

from collections.abc import Sequence

from twilight_resources.settings import TwilightSettings
from twilight_resources.warehouse import WarehouseWriter


def fetched_partitions(settings: TwilightSettings, table: str, keys: Sequence[str]) -> set[str]:
    """Keys of raw ``table`` whose latest fetch returned rows; empty before the first write.

    A fetch that came back empty (data not published upstream yet) does not count, so the next
    run asks again. Read under the writer lock from the raw file, which no snapshot holds: a
    committed write is seen at once, whether or not a snapshot was published after it.
    """
    writer = WarehouseWriter.from_settings(settings)
    if not writer.path.exists() and not writer.raw_path.exists():
        return set()
    ledger = writer.raw_partitions(table)
    wanted = set(keys)
    return {
        k
        for k, rows in zip(ledger["partition_key"], ledger["rows"], strict=True)
        if k in wanted and rows > 0
    }
