"""Checks and small conversions shared by the raw and normalized write paths."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd


def utc_now() -> datetime:
    """Naive UTC, the warehouse's TIMESTAMP convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def with_partition_keys(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """A copy of ``frame`` whose ``partition_key`` column is filled and checked.

    Rows without a key belong to the write's only partition; with several partitions every
    row must name one of them, so the ledger can count per partition.
    """
    out = frame.copy()
    if "partition_key" not in out.columns:
        out["partition_key"] = None
    missing = out["partition_key"].isna()
    if missing.any():
        if len(keys) != 1:
            raise ValueError(
                f"a write covering {len(keys)} partitions needs a partition_key column "
                "naming each row's partition"
            )
        out.loc[missing, "partition_key"] = keys[0]
    out["partition_key"] = out["partition_key"].astype(str)
    unknown = sorted(set(out["partition_key"]) - set(keys))
    if unknown:
        raise ValueError(f"rows name partitions outside this write: {unknown[:5]}")
    out["_row"] = np.arange(len(out))
    return out


def timestamps_utc(values: pd.Series) -> pd.Series:
    """Any datetime-like series -> naive UTC (aware values converted, naive taken as UTC)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        converted: pd.Series = values.dt.tz_convert(None)
        return converted
    if pd.api.types.is_datetime64_dtype(values.dtype):  # parsing 5,000 of them again: 13 ms
        return values
    return pd.to_datetime(values, utc=True).dt.tz_localize(None)


@contextmanager
def registered(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> Iterator[None]:
    """Expose ``frame`` to SQL as ``name`` for the block.

    Unregistering is best effort: after a failed statement the transaction is aborted and
    DuckDB refuses it, and the original error is the one worth seeing.
    """
    conn.register(name, frame)
    try:
        yield
    finally:
        with suppress(duckdb.Error):
            conn.unregister(name)
