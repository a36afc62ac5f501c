"""The API registry: name -> handler, and turning a handler's page into the final columns.

Columns come out in Tushare's order (or the order asked for via ``fields``), floats rounded as
the real service rounds them, missing values as None/NaN, never +-inf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twilight_sim import apis_market as mk
from twilight_sim.apis_market import Handler
from twilight_sim.apis_reports import REPORT_HANDLERS
from twilight_sim.clock import Visibility
from twilight_sim.fields import FIELDS, ROW_CAPS, default_fields, field_names
from twilight_sim.params import Params, parse_fields

if TYPE_CHECKING:
    from twilight_sim.market_data import MarketData

HANDLERS: dict[str, Handler] = {
    "stock_basic": mk.stock_basic,
    "trade_cal": mk.trade_cal,
    "daily": mk.daily,
    "weekly": mk.weekly,
    "monthly": mk.monthly,
    "adj_factor": mk.adj_factor,
    "daily_basic": mk.daily_basic,
    "index_basic": mk.index_basic,
    "index_daily": mk.index_daily,
    "index_dailybasic": mk.index_dailybasic,
    "index_weight": mk.index_weight,
    **REPORT_HANDLERS,
}
UNLIMITED = 1 << 62
# Handlers that compute only the page asked for: a query for more rows (in-process, no row cap)
# is computed this many rows at a time, so its working memory does not grow with the range.
CHUNKED = frozenset(("daily", "adj_factor", "daily_basic", "weekly", "monthly"))
CHUNK_ROWS = 50_000


class UnknownApi(KeyError):
    """The api_name is not one the simulator serves."""


@dataclass
class Answer:
    frame: pd.DataFrame
    has_more: bool
    total: int


def finalize(frame: pd.DataFrame, api: str, names: list[str]) -> pd.DataFrame:
    """Select, order, type and round the columns of a handler's rows."""
    spec = {f.name: f for f in FIELDS[api]}
    n = len(frame)
    out: dict[str, np.ndarray] = {}
    for name in names:
        field = spec[name]
        if name not in frame.columns:
            out[name] = np.full(n, np.nan) if field.kind == "float" else np.full(n, None, object)
            continue
        raw = frame[name].to_numpy()
        if field.kind == "float":
            values = (
                raw.astype(np.float64)
                if raw.dtype.kind in "fiu"
                else pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(float)
            )
            out[name] = np.round(np.where(np.isfinite(values), values, np.nan), field.decimals)
        elif field.kind == "int":
            out[name] = raw.astype(np.int64)
        else:
            values = raw.astype(object)
            missing = pd.isna(values)
            if missing.any():
                # numpy's stubs take no None branch in where(); numpy makes an object array.
                values = np.where(missing, None, values)  # type: ignore[call-overload]
            out[name] = values
    return pd.DataFrame(out, columns=names)


def answer(
    market: MarketData,
    api: str,
    params: Mapping[str, object] | None,
    fields: object,
    vis: Visibility,
    cap: int | None = None,
) -> Answer:
    """One page of ``api`` as Tushare would send it (offset/limit from the params)."""
    handler = HANDLERS.get(api)
    if handler is None:
        raise UnknownApi(api)
    p = Params(params)
    cap = ROW_CAPS[api] if cap is None else cap
    offset = p.count("offset") or 0
    limit = min(p.count("limit") or cap, cap)
    names = parse_fields(fields, api, field_names(api), default_fields(api))
    step = CHUNK_ROWS if api in CHUNKED else limit
    parts: list[pd.DataFrame] = []
    start, total = offset, 0
    while True:
        want = min(step, offset + limit - start)
        frame, total = handler(market, p, vis, start, want)
        parts.append(finalize(frame.iloc[:want], api, names))
        start += len(parts[-1])
        if len(parts[-1]) == 0 or start >= min(total, offset + limit):
            break
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return Answer(frame, offset + len(frame) < total, total)
