"""The MCP tools, generated from the catalog: one per warehouse-backed API, plus ``query``.

Each table tool is a plain function whose signature is built from its catalog entry (Tushare's
parameter names, patterns and descriptions), so the SDK derives a typed input schema for it as
for any hand-written tool. No ``from __future__ import annotations`` here: the SDK evaluates
these annotations at registration.
"""

import inspect
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from twilight_serve.mcp.answers import Answerer, TushareAnswer
from twilight_serve.mcp.catalog import TABLE_TOOLS, TableTool
from twilight_serve.mcp.coverage import Coverage
from twilight_serve.mcp.describe import describe
from twilight_serve.mcp.request import DEFAULT_LIMIT, paging, parse_fields, table_request
from twilight_serve.validation import MAX_LIMIT

API_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=True)

Fields = Annotated[
    str | None,
    Field(description="output fields, comma-separated (Tushare's `fields`); default: all"),
]
# Bounds in the schema, checked by ``paging`` (a clear tool error rather than pydantic's report).
Limit = Annotated[
    int, Field(json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT}, description="rows per page")
]
Offset = Annotated[
    int,
    Field(json_schema_extra={"minimum": 0}, description="rows to skip: the previous answer's "
          "next_offset"),
]  # fmt: skip

# The SDK would render the answer as indented JSON (a line per cell) for the text content that
# most agents read; one compact line per answer keeps an agent's context small.
Answer = Annotated[CallToolResult, TushareAnswer]

PROVENANCE = (
    "Answers are Tushare-shaped (fields + items) with provenance: source (warehouse or the live "
    "upstream), as_of (when the data was fetched) and covered (whether the warehouse held the "
    "whole request, judged from its partition bookkeeping). Pages hold at most `limit` rows."
)


def _signature(tool: TableTool) -> inspect.Signature:
    """Keyword parameters named as Tushare names them, each typed and described."""
    params = []
    for p in tool.params:
        # The pattern is in the schema for clients, but checked by table_request: a mismatch is
        # then the one-line tool error every other argument gets, not pydantic's report.
        # Annotations built at run time for the SDK's schema: values to the checker, not types.
        text: Any = (
            Annotated[str, Field(json_schema_extra={"pattern": p.pattern})] if p.pattern else str
        )
        annotation: Any = Annotated[
            text if p.required else text | None, Field(description=p.description)
        ]
        default = inspect.Parameter.empty if p.required else None
        params.append(
            inspect.Parameter(
                p.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    params += [
        inspect.Parameter(
            "fields", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Fields
        ),
        inspect.Parameter(
            "limit", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_LIMIT, annotation=Limit
        ),
        inspect.Parameter("offset", inspect.Parameter.KEYWORD_ONLY, default=0, annotation=Offset),
    ]
    return inspect.Signature(params, return_annotation=Answer)


def as_result(answer: TushareAnswer | dict[str, Any]) -> CallToolResult:
    """The answer as structured content (validated against the output schema) and compact text."""
    data = answer.model_dump(mode="json") if isinstance(answer, TushareAnswer) else answer
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _description(tool: TableTool) -> str:
    how = {
        "whole": "The warehouse holds the whole table.",
        "trade_date": "Stored per trading day: a dated request is a hit when every trading day "
        "in it was fetched.",
        "week_end": "Stored per week (its last trading day).",
        "month_end": "Stored per month (its last trading day).",
        "month": "Stored per month for the tracked indices.",
        "period": "Stored per report period: only a request naming the period can be a hit.",
    }[tool.grain.value]
    return f"Tushare `{tool.api}`: {tool.summary} {how} {PROVENANCE}"


def table_tool(tool: TableTool, answerer: Answerer) -> Callable[..., CallToolResult]:
    """The tool function of one table (runs on a worker thread: DuckDB and HTTP block)."""

    def run(**arguments: Any) -> CallToolResult:
        return as_result(answerer.table(table_request(tool, arguments)))

    run.__name__ = tool.api
    run.__doc__ = _description(tool)
    run.__signature__ = _signature(tool)  # type: ignore[attr-defined]
    return run


def register_tools(
    server: MCPServer, answerer: Answerer, tools: tuple[TableTool, ...] = TABLE_TOOLS
) -> None:
    """Add a tool per table of ``tools`` (the catalog's), ``query`` and ``describe_warehouse``
    to ``server``."""
    by_api = {tool.api: tool for tool in tools}
    for tool in tools:
        server.add_tool(table_tool(tool, answerer), annotations=READ_ONLY)

    def query(
        api_name: Annotated[str, Field(description="Tushare API name, e.g. daily or namechange")],
        params: Annotated[
            dict[str, str | int | float] | None,
            Field(description='Tushare params, e.g. {"ts_code": "600000.SH"}'),
        ] = None,
        fields: Annotated[
            str | list[str] | None, Field(description="output fields (comma-separated or list)")
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> Answer:
        """Any Tushare API. The warehouse-backed ones (see describe_warehouse) are answered from
        the warehouse when it covers the request, everything else live through the budgeted
        upstream client. Same answer shape and provenance as the table tools."""
        if not API_NAME.fullmatch(api_name):
            raise ToolError(f"api_name: {api_name!r} is not a Tushare API name (e.g. daily)")
        params = params or {}
        tool = by_api.get(api_name)
        unknown = sorted(set(params) - {p.name for p in tool.params}) if tool else []
        if tool is not None and not unknown:
            arguments = {**params, "fields": fields, "limit": limit, "offset": offset}
            return as_result(answerer.table(table_request(tool, arguments)))
        limit, offset = paging(limit, offset)
        for name, value in params.items():
            if isinstance(value, bool):
                raise ToolError(f"params.{name}: expected a string or number, got a boolean")
        reason = f"{api_name} is not stored in the warehouse"
        if unknown:
            reason = f"the warehouse cannot filter {api_name} by {', '.join(unknown)}"
        answer = answerer.live(
            api_name,
            dict(params),
            parse_fields(fields, None),
            limit,
            offset,
            Coverage(False, reason),
        )
        return as_result(answer)

    server.add_tool(query, annotations=READ_ONLY)

    def describe_warehouse() -> Annotated[CallToolResult, dict[str, Any]]:
        """What the warehouse holds, to plan calls: per table its grain, fetched partitions,
        first/last key, rows and last fetch, the tracked indices and the snapshot's age."""
        return as_result(describe(answerer))

    server.add_tool(describe_warehouse, annotations=ToolAnnotations(read_only_hint=True))
