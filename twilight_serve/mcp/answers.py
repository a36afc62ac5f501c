"""Warehouse first, live upstream otherwise: one Tushare-shaped answer with its provenance.

A hit is read from the published snapshot (never the warehouse file) and costs no upstream
call. A miss is asked of the upstream in full through the same budgeted, journalled client the
assets use; the live answer is never written to the warehouse (this server only reads). Pages of
one live answer are kept in memory for a minute, so an agent paging through it spends no call
per page. Each live answer is bounded in rows and wall time (a tool error past either says how to
narrow the request), the cache in bytes, and :meth:`Answerer.stop` ends live work in flight.
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
from twilight_resources.tushare import (
    TushareAnswerTooLarge,
    TushareCancelled,
    TushareClient,
    TushareError,
    TushareMalformedAnswer,
)
from twilight_resources.tushare.journal import CallRecord
from twilight_resources.warehouse import WarehouseReader
from twilight_resources.warehouse.schema import quote
from twilight_serve.mcp.catalog import Kind
from twilight_serve.mcp.coverage import Coverage, CoverageChecker
from twilight_serve.mcp.request import TableRequest

# An agent's context is the scarce resource: pages are capped by cells, not only rows.
MAX_CELLS = 20_000
LIVE_CACHE_TTL_S = 60.0
STOP_GRACE_S = 1.0  # how long a stopping server lets an upstream request in flight finish

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
    """Recent live answers by request, so paging one answer spends one call.

    Bounded by the bytes the frames hold (not by their number: one whole-market answer weighs
    as much as hundreds of small ones); the oldest go first, and an answer larger than the
    whole bound is served but not kept.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[float, pd.DataFrame, datetime, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> tuple[pd.DataFrame, datetime] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if time.monotonic() - hit[0] > LIVE_CACHE_TTL_S:
                self._drop(key)
                return None
            return hit[1], hit[2]

    def put(self, key: str, frame: pd.DataFrame, fetched_at: datetime) -> None:
        size = int(frame.memory_usage(index=True, deep=True).sum())
        with self._lock:
            self._drop(key)
            if size > self.max_bytes:
                return
            self._items[key] = (time.monotonic(), frame, fetched_at, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        hit = self._items.pop(key, None)
        if hit is not None:
            self._bytes -= hit[3]


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
        self._cache = LiveCache(settings.mcp_live_cache_mb * 1024 * 1024)
        self._stopping = threading.Event()  # set by stop(): live calls in flight end
        self._in_flight: dict[int, tuple[str, dict[str, Any], float]] = {}  # by thread
        self._flight_lock = threading.Lock()

    @property
    def live_source(self) -> Source:
        return "simulator" if self.settings.uses_simulator else "tushare"

    def client(self) -> TushareClient:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def stop(self) -> None:
        """End live calls in flight (between upstream requests or during a wait) and refuse
        new ones: the server is shutting down."""
        self._stopping.set()

    def abandon(self) -> int:
        """Journal the live calls still waiting on an upstream request (a process exiting now
        leaves them unfinished, and their own journal entry unwritten); how many there were."""
        with self._flight_lock:
            stuck = list(self._in_flight.values())
            self._in_flight.clear()
        journal = self._client.journal if self._client is not None else None
        for api, params, started in stuck:
            if journal is not None:
                journal.record(
                    CallRecord(
                        api_name=api, params=params, rows=0, pages=0, attempts=1,
                        latency_ms=(time.monotonic() - started) * 1000,
                        outcome=TushareCancelled.__name__,
                        error="the server stopped while the upstream held a request",
                    )
                )  # fmt: skip
        return len(stuck)

    def close(self) -> None:
        self.stop()
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
            frame = self._fetch(api, params, fields, verdict)
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

    def _fetch(
        self, api: str, params: dict[str, Any], fields: list[str], verdict: Coverage
    ) -> pd.DataFrame:
        """One live answer within the row and time bounds; every failure a tool error."""
        settings = self.settings
        why = f"{api}: not answered from the warehouse ({verdict.reason}) and the live call"
        if self._stopping.is_set():
            raise ToolError(f"{api}: the server is shutting down; ask again once it is back")
        deadline = time.monotonic() + settings.mcp_live_seconds
        try:
            client = self.client()
            return self._in_background(
                api,
                params,
                lambda: client.query(
                    api,
                    params,
                    fields,
                    max_rows=settings.mcp_live_max_rows,
                    max_pages=settings.mcp_live_max_pages,
                    deadline=deadline,
                    cancel=self._stopping,
                ),
            )
        except TushareAnswerTooLarge as exc:
            size = exc.message.split(";")[0].removeprefix("the answer ")
            raise ToolError(
                f"{why} stopped: the answer {size}. Narrow the request: {_narrowing(params)}"
            ) from None
        except TushareCancelled:
            if self._stopping.is_set():
                raise ToolError(f"{api}: the server is shutting down; ask again later") from None
            raise ToolError(
                f"{why} stopped: it took longer than {settings.mcp_live_seconds:g} s. Narrow "
                f"the request: {_narrowing(params)}"
            ) from None
        except TushareMalformedAnswer as exc:
            again = "" if exc.transient else "; asking again will not help"
            raise ToolError(
                f"{why} failed: the upstream's answer is not Tushare's shape "
                f"({redact(exc.message.removeprefix('malformed answer: '))}){again}"
            ) from None
        except TushareError as exc:
            raise ToolError(f"{why} failed: {redact(str(exc))}") from None
        except RuntimeError as exc:  # the embedded simulator could not start
            raise ToolError(f"{api}: the upstream is unavailable: {redact(str(exc))}") from None

    def _in_background(
        self, api: str, params: dict[str, Any], call: Callable[[], pd.DataFrame]
    ) -> pd.DataFrame:
        """Run ``call`` on a daemon thread and wait for it, or for a stop request.

        The client checks the stop between upstream requests, but one request the upstream
        holds would hold the tool call with it, and the server's shutdown behind that (the SDK
        waits for its worker threads). Past a short grace the call is left to its daemon thread
        and journalled by :meth:`abandon`.
        """
        outcome: dict[str, Any] = {}
        key = threading.get_ident()

        def run() -> None:
            try:
                outcome["frame"] = call()
            except BaseException as exc:  # handed over to the waiting thread
                outcome["error"] = exc
            finally:
                with self._flight_lock:
                    self._in_flight.pop(key, None)

        with self._flight_lock:
            self._in_flight[key] = (api, dict(params), time.monotonic())
        worker = threading.Thread(target=run, name=f"live {api}", daemon=True)
        worker.start()
        while worker.is_alive():
            if self._stopping.wait(0.1):
                worker.join(STOP_GRACE_S)
                if worker.is_alive():
                    raise ToolError(f"{api}: the server is shutting down; ask again later")
        if "error" in outcome:
            raise outcome["error"]
        frame: pd.DataFrame = outcome["frame"]
        return frame

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
        sql = f"SELECT count(*) AS n FROM {request.tool.table}{where}"
        return int(self.reader.records(sql, args)[0]["n"])


def _narrowing(params: dict[str, Any]) -> str:
    """How to ask for less, from what the request left open."""
    ways = []
    if "ts_code" not in params:
        ways.append("name one ts_code")
    if not {"trade_date", "start_date", "end_date", "period"} & set(params):
        ways.append("give a trade_date or a start_date..end_date range")
    elif "trade_date" not in params:
        ways.append("shorten the start_date..end_date range")
    return ", or ".join(ways) or "ask for a shorter date range"


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
    items: list[list[Any]] = json.loads(
        frame.to_json(orient="values", double_precision=15, date_format="iso")
    )
    return items


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
