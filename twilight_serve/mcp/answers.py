"""Warehouse first, live upstream otherwise: one Tushare-shaped answer with its provenance.

A hit is read from the published snapshot (never the warehouse file) and costs no upstream
call. A miss is asked of the upstream in full through the same budgeted, journalled client the
assets use; the live answer is never written to the warehouse (this server only reads). Pages of
one live answer are kept in memory for a minute, so an agent paging through it spends no call
per page.
"""

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, WithJsonSchema

from twilight_resources.logs import redact
from twilight_resources.settings import TwilightSettings
from twilight_resources.tushare import TushareClient, TushareError
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.schema import quote
from twilight_serve.mcp.catalog import Kind
from twilight_serve.mcp.coverage import Coverage, CoverageChecker
from twilight_serve.mcp.request import TableRequest

# An agent's context is the scarce resource: pages are capped by cells, not only rows.
MAX_CELLS = 20_000
LIVE_CACHE_TTL_S = 60.0
LIVE_CACHE_SIZE = 32

Source = Literal["warehouse", "tushare", "simulator"]


class TushareAnswer(BaseModel):
    """Tushare's shape (``fields`` + ``items``) plus where the answer came from."""

    api: str = Field(description="the Tushare API answered")
    source: Source = Field(description="warehouse, or the live upstream (tushare / simulator)")
    covered: bool = Field(description="whether the warehouse held the whole request")
    coverage: str = Field(description="why it was (not) answered from the warehouse")
    as_of: str | None = Field(description="when the data was fetched from the upstream (UTC)")
    snapshot_generation: int | None = Field(description="warehouse snapshot read, if any")
    partitions_needed: int = Field(description="warehouse partitions the request needs")
    partitions_missing: list[str] = Field(description="some of those not fetched yet")
    fields: list[str]
    # Declared as a plain array: a client validating structured content against the schema would
    # otherwise descend into every cell (15 ms for a few hundred cells with the SDK's client).
    items: Annotated[
        list[list[Any]],
        WithJsonSchema({"type": "array", "description": "rows, values in `fields` order"}),
    ]
    total: int = Field(description="rows in the whole answer")
    offset: int
    has_more: bool
    next_offset: int | None = Field(description="offset of the next page, if any")
    note: str | None = Field(default=None, description="paging or capping notice")


class LiveCache:
    """Recent live answers by request, so paging one answer spends one call."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, pd.DataFrame, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[pd.DataFrame, datetime] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or time.monotonic() - hit[0] > LIVE_CACHE_TTL_S:
                self._items.pop(key, None)
                return None
            return hit[1], hit[2]

    def put(self, key: str, frame: pd.DataFrame, fetched_at: datetime) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), frame, fetched_at)
            while len(self._items) > LIVE_CACHE_SIZE:
                self._items.popitem(last=False)


class Answerer:
    """Answers requests for one TWILIGHT_HOME: the reader, the coverage check, the client."""

    def __init__(
        self,
        settings: TwilightSettings,
        reader: WarehouseReader,
        client_factory: Callable[[], TushareClient],
    ) -> None:
        self.settings, self.reader = settings, reader
        self.coverage = CoverageChecker(reader, settings)
        self._client_factory = client_factory
        self._client: TushareClient | None = None
        self._client_lock = threading.Lock()
        self._cache = LiveCache()

    @property
    def live_source(self) -> Source:
        return "simulator" if self.settings.uses_simulator else "tushare"

    def client(self) -> TushareClient:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.reader.close()

    def table(self, request: TableRequest) -> TushareAnswer:
        """A table tool's answer: from the warehouse on a hit, else live in full."""
        verdict = self.coverage.check(request)
        if verdict.covered:
            return self._from_warehouse(request, verdict)
        tool = request.tool
        api = tool.api
        if tool.whole_market_api and "ts_code" not in request.params:
            api = tool.whole_market_api  # Tushare's per-period, whole-market variant
        fields = request.fields or list(tool.columns)
        return self.live(
            api,
            request.params,
            fields,
            request.limit,
            request.offset,
            verdict,
            answered_as=tool.api,
        )

    def live(
        self,
        api: str,
        params: dict[str, Any],
        fields: list[str],
        limit: int,
        offset: int,
        verdict: Coverage,
        answered_as: str | None = None,
    ) -> TushareAnswer:
        """Ask the upstream (budgeted, journalled); its failure is a tool error, not a crash."""
        key = json.dumps([api, params, fields], sort_keys=True, default=str)
        cached = self._cache.get(key)
        if cached is None:
            try:
                frame = self.client().query(api, params, fields)
            except TushareError as exc:
                raise ToolError(
                    f"{api}: not answered from the warehouse ({verdict.reason}) and the live "
                    f"call failed: {redact(str(exc))}"
                ) from None
            except RuntimeError as exc:  # the embedded simulator could not start
                raise ToolError(f"{api}: the upstream is unavailable: {redact(str(exc))}") from None
            fetched_at = datetime.now(UTC)
            self._cache.put(key, frame, fetched_at)
        else:
            frame, fetched_at = cached
        total = len(frame)
        rows, note = _page_size(limit, len(frame.columns))
        page = frame.iloc[offset : offset + rows]
        return _answer(
            answered_as or api,
            self.live_source,
            verdict,
            fetched_at,
            list(frame.columns),
            _items(page),
            total,
            offset,
            note,
        )

    def _from_warehouse(self, request: TableRequest, verdict: Coverage) -> TushareAnswer:
        tool = request.tool
        fields = request.fields or list(tool.columns)
        rows, note = _page_size(request.limit, len(fields))
        sql, args = _select(request, fields, rows)
        frame = self.reader.query(sql, args)
        total = int(frame["__total"].iloc[0]) if len(frame) else self._count(request)
        frame = frame.iloc[:, :-1]  # without __total
        return _answer(
            tool.api,
            "warehouse",
            verdict,
            verdict.as_of,
            fields,
            _items(frame),
            total,
            request.offset,
            note,
        )

    def _count(self, request: TableRequest) -> int:
        """Total rows when the page is empty (an offset past the end, or no rows at all)."""
        where, args = _where(request)
        sql = f"SELECT count(*) FROM {request.tool.table}{where}"
        return int(self.reader.query(sql, args).iloc[0, 0])


def _where(request: TableRequest) -> tuple[str, list[Any]]:
    tool = request.tool
    clauses: list[str] = []
    args: list[Any] = []
    for column, values in request.equals.items():
        marks = ", ".join("?" for _ in values)
        clauses.append(f"{quote(column)} IN ({marks})")
        args.extend(values)
    bounds = {
        Kind.DAY: (request.day, "="),
        Kind.START: (request.start, ">="),
        Kind.END: (request.end, "<="),
    }
    for param in tool.params:
        if param.kind in bounds and tool.date_column:
            value, op = bounds[param.kind]
            if value is not None:
                clauses.append(f"{quote(param.column or tool.date_column)} {op} ?")
                args.append(value)
        elif param.kind is Kind.PERIOD and request.period is not None:
            clauses.append(f"{quote(param.column or 'end_date')} = ?")
            args.append(request.period)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _select(request: TableRequest, fields: list[str], rows: int) -> tuple[str, list[Any]]:
    """One page in Tushare's row order, dates rendered as Tushare's YYYYMMDD text."""
    tool = request.tool
    rendered = ", ".join(
        f"strftime({quote(f)}, '%Y%m%d') AS {quote(f)}" if f in tool.date_columns else quote(f)
        for f in fields
    )
    where, args = _where(request)
    # Tushare's order: newest first, then by code.
    newest = [f"{quote(tool.date_column)} DESC"] if tool.date_column else []
    order = ", ".join(newest + [quote(c) for c in tool.order_by if c != tool.date_column])
    sql = (
        f"SELECT {rendered}, count(*) OVER () AS __total FROM {tool.table}{where} "
        f"ORDER BY {order} LIMIT ? OFFSET ?"
    )
    return sql, [*args, rows, request.offset]


def _page_size(limit: int, columns: int) -> tuple[int, str | None]:
    cap = max(1, MAX_CELLS // max(columns, 1))
    if limit <= cap:
        return limit, None
    return cap, (
        f"pages of {columns} fields are capped at {cap} rows to keep the answer small; "
        "name fewer fields to get more rows per page"
    )


def _items(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows as JSON values (NaN as null), as Tushare's ``items``."""
    if frame.empty:
        return []
    return json.loads(frame.to_json(orient="values", double_precision=15, date_format="iso"))


def _answer(
    api: str,
    source: Source,
    verdict: Coverage,
    as_of: datetime | None,
    fields: list[str],
    items: list[list[Any]],
    total: int,
    offset: int,
    note: str | None,
) -> TushareAnswer:
    end = offset + len(items)
    has_more = end < total
    if has_more:
        paging = f"rows {offset}..{end - 1} of {total}; ask again with offset={end} for more"
        note = f"{note}; {paging}" if note else paging
    return TushareAnswer(
        api=api,
        source=source,
        covered=verdict.covered,
        coverage=verdict.reason,
        as_of=None if as_of is None else as_of.isoformat(timespec="seconds"),
        snapshot_generation=verdict.generation if source == "warehouse" else None,
        partitions_needed=verdict.needed,
        partitions_missing=list(verdict.missing),
        fields=fields,
        items=items,
        total=total,
        offset=offset,
        has_more=has_more,
        next_offset=end if has_more else None,
        note=note,
    )
