"""Raw text -> typed rows, by the table spec, so assets carry no schema knowledge.

Casting runs in an in-memory DuckDB with the same cast rules the warehouse uses. A row is
rejected (with a reason, for the quarantine) when a non-empty value does not cast to its
column's type or a primary-key column ends up NULL. Surviving rows are de-duplicated on the
primary key: the last fetched wins.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from twilight_resources.warehouse.connections import connect
from twilight_resources.warehouse.schema import TableSpec, quote, table_spec

# Strings meaning "no value" in a typed (non-text) column, compared case-insensitively.
NULL_TOKENS = ("", "nan", "none", "null", "nat")
# A NULL key column takes the value of another column: Tushare leaves f_ann_date empty on
# some statements, and ann_date is then the best "known since" date.
KEY_FALLBACKS = {"f_ann_date": "ann_date"}
REJECT_COLUMNS = ("raw_id", "partition_key", "reason", "raw_row")
_PASSTHROUGH = ("raw_id", "partition_key", "fetched_at")
EXTRA = "extra_fields"  # the raw columns the table does not know, shown in a reject
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")


class NormalizedBatch(NamedTuple):
    """What a normalized asset returns: typed rows plus the rows rejected on the way."""

    clean: pd.DataFrame
    rejects: pd.DataFrame


def _text(column: str) -> str:
    return f"CAST({quote(column)} AS VARCHAR)"


def _typed_text(expr: str) -> str:
    # A regex, not ``IN (...)``: DuckDB 2.0 plans a wide SELECT of IN-lists ~50x slower.
    tokens = "|".join(t for t in NULL_TOKENS if t)
    return (
        rf"CASE WHEN regexp_full_match({expr}, '(?i)\s*({tokens})?\s*') THEN NULL "
        f"ELSE trim({expr}) END"
    )


def cast_expression(text: str, sql_type: str) -> str:
    """SQL turning a text expression into ``sql_type``, NULL when it does not cast."""
    if sql_type == "VARCHAR":
        return text
    if sql_type == "DATE":
        return (
            rf"CASE WHEN regexp_full_match({text}, '\d{{8}}') "
            f"THEN CAST(try_strptime({text}, '%Y%m%d') AS DATE) "
            f"ELSE TRY_CAST({text} AS DATE) END"
        )
    if sql_type in _INTEGER_TYPES:
        # Strict: '12' and '12.0' cast, '12.5' does not (DuckDB would round it).
        return (
            rf"CASE WHEN regexp_full_match({text}, '[+-]?\d+(\.0*)?') "
            rf"THEN TRY_CAST(regexp_replace({text}, '\.0*$', '') AS {sql_type}) END"
        )
    return f"TRY_CAST({text} AS {sql_type})"


def _source_text(spec: TableSpec, column: str, present: set[str]) -> str | None:
    """Text of ``column`` after NULL tokens, defaults and key fallbacks; None if unavailable."""
    sql_type = spec.columns[column]
    parts = []
    if column in present:
        text = _text(column)
        parts.append(
            _typed_text(text)
            if sql_type != "VARCHAR"
            else f"CASE WHEN trim({text}) = '' THEN NULL ELSE {text} END"
        )
    fallback = KEY_FALLBACKS.get(column)
    if column in spec.primary_key and fallback in present and fallback in spec.columns:
        parts.append(_typed_text(_text(fallback)))
    if column in spec.defaults:
        parts.append(f"CAST({spec.defaults[column]} AS VARCHAR)")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})


def _raw_rows(rows: pd.DataFrame, columns: list[str]) -> list[str]:
    """Each row's ``columns`` as JSON text, missing values as null."""
    subset = rows[columns].astype(object)
    # pandas-stubs' Scalar leaves out None, which where() takes as the fill value.
    subset = subset.where(subset.notna(), None)  # type: ignore[call-overload]
    return [
        json.dumps(row, ensure_ascii=False, default=str) for row in subset.to_dict(orient="records")
    ]


def normalize_frame(
    spec: TableSpec | str, raw_df: pd.DataFrame, *, source: str = "tushare"
) -> NormalizedBatch:
    """Cast raw rows to ``spec``'s types; return (clean rows, rejected rows with reasons).

    ``clean`` has the spec's columns that the raw frame carries (key columns always), plus
    ``raw_id``, ``source`` and, when the raw frame has it, ``partition_key``. Columns the raw
    frame lacks are left out so an upsert does not overwrite them. ``rejects`` has
    ``raw_id, partition_key, reason, raw_row`` (raw_row: the raw values as JSON text).
    """
    spec = table_spec(spec) if isinstance(spec, str) else spec
    used = [c for c in raw_df.columns if c in spec.data_columns or c in (*_PASSTHROUGH, EXTRA)]
    frame = raw_df[used].copy()
    frame["_row"] = np.arange(len(frame))
    conn = connect()
    try:
        conn.register("raw_frame", frame)
        return normalize_relation(conn, spec, "raw_frame", used, "?", [source])
    finally:
        conn.close()


def normalize_relation(
    conn: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    relation: str,
    columns: Sequence[str],
    source_sql: str,
    params: Sequence[object] = (),
) -> NormalizedBatch:
    """:func:`normalize_frame` of the rows of ``relation``, a table or view of ``conn`` with
    raw ``columns`` and a ``_row`` number ordering them (the last row of a key wins); each
    row's source is the SQL ``source_sql`` (with ``params``)."""
    if spec.layer != "normalized":
        raise ValueError(f"normalize_frame needs a normalized_* table, got {spec.name!r}")
    present = {c for c in spec.data_columns if c in columns}
    carried = [c for c in _PASSTHROUGH if c in columns]
    lineage = "".join(f", {quote(c)}" for c in carried)

    texts: list[str] = []
    casts: list[str] = []
    finals: list[str] = []
    reasons: list[str] = []
    typed: list[str] = []
    for column in spec.data_columns:
        text = _source_text(spec, column, present)
        is_key = column in spec.primary_key
        if text is None:
            if is_key:
                reasons.append(f"'{column}: key column is missing'")
            continue
        i, sql_type = len(typed), spec.columns[column]
        typed.append(column)
        texts.append(f"{text} AS t_{i}")
        casts.append(f"{cast_expression(f't_{i}', sql_type)} AS v_{i}")
        finals.append(f"v_{i} AS {quote(column)}")
        if sql_type != "VARCHAR":
            reasons.append(
                f"CASE WHEN t_{i} IS NOT NULL AND v_{i} IS NULL THEN "
                f"'{column}: cannot cast ''' || left(t_{i}, 60) || ''' to {sql_type}' END"
            )
        if is_key:
            reasons.append(f"CASE WHEN t_{i} IS NULL THEN '{column}: key column is NULL' END")
    reason_sql = f"concat_ws('; ', {', '.join(reasons)})" if reasons else "''"
    key = ", ".join(quote(c) for c in spec.primary_key if c in typed)
    order = ["fetched_at DESC NULLS LAST"] if "fetched_at" in carried else []
    if "update_flag" in typed:
        order.append("update_flag DESC NULLS LAST")
    order.append("_row DESC")
    dedup = (
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {', '.join(order)}) = 1"
        if key
        else ""
    )
    raw_id = "CAST(raw_id AS BIGINT)" if "raw_id" in carried else "CAST(NULL AS BIGINT)"
    partition = ", CAST(partition_key AS VARCHAR) AS partition_key"

    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE staged AS SELECT _row, _source{lineage}, "
        f"{', '.join([*finals, f'{reason_sql} AS _reason'])} FROM ("
        f"SELECT *, {', '.join(casts) or 'NULL AS v_none'} FROM ("
        f"SELECT _row, CAST({source_sql} AS VARCHAR) AS _source{lineage}, "
        f"{', '.join(texts) or 'NULL AS t_none'} FROM {relation}))",
        list(params),
    )
    clean = conn.execute(
        f"SELECT {''.join(f'{quote(c)}, ' for c in typed)}{raw_id} AS raw_id, "
        f"_source AS source{partition if 'partition_key' in carried else ''} "
        f"FROM staged WHERE _reason = '' {dedup} ORDER BY _row"
    ).df()
    rejected = conn.execute(
        "SELECT _row, _reason FROM staged WHERE _reason <> '' ORDER BY _row"
    ).fetchall()
    if not rejected:
        return NormalizedBatch(clean, _empty_rejects())
    shown = [c for c in columns if c in present or c == EXTRA]
    rows = conn.execute(
        f"SELECT {', '.join(quote(c) for c in dict.fromkeys([*shown, *carried]))} "
        f"FROM {relation} WHERE list_contains(?, _row) ORDER BY _row",
        [[row for row, _ in rejected]],
    ).df()
    return NormalizedBatch(
        clean,
        pd.DataFrame(
            {
                "raw_id": rows["raw_id"].to_numpy() if "raw_id" in carried else None,
                "partition_key": (
                    rows["partition_key"].to_numpy() if "partition_key" in carried else None
                ),
                "reason": [reason for _, reason in rejected],
                "raw_row": _raw_rows(rows, shown),
            }
        ),
    )
