"""The server over streamable HTTP, driven by the SDK's own client session.

One server process serves the whole package (see conftest); each test opens its own session.
Hits must spend no simulator call, misses exactly the calls they need (the simulator's counter).
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession

from tests.mcp.cases import BAD_ARGUMENTS, EMPTY_PERIOD, hit_cases, miss_cases
from tests.mcp.conftest import HttpServer, Warehouse, http_session
from twilight_resources.embedded import EMBEDDED_TOKEN
from twilight_serve.auth import TokenStore
from twilight_serve.mcp.catalog import TOOLS_BY_API


def in_session(server: HttpServer, body: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with http_session(server.url, server.token) as session:
            return await body(session)

    return anyio.run(main)


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    text = result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text and json.loads(text) == result.structured_content  # compact
    return result.structured_content


@pytest.fixture(scope="module")
def stock(http_server: HttpServer) -> str:
    async def body(session: ClientSession) -> str:
        answer = await call(session, "stock_basic", {"list_status": "L", "fields": "ts_code"})
        return answer["items"][0][0]

    return in_session(http_server, body)


def test_lists_a_tool_per_table_with_tushare_parameters(http_server: HttpServer) -> None:
    tools = {t.name: t for t in in_session(http_server, lambda s: s.list_tools()).tools}
    assert set(TOOLS_BY_API) | {"query", "describe_warehouse"} == set(tools)
    daily = tools["daily"].input_schema["properties"]
    assert {"ts_code", "trade_date", "start_date", "end_date", "fields", "limit"} <= set(daily)
    assert daily["trade_date"]["anyOf"][0]["pattern"] == r"^\d{8}$"
    assert tools["index_weight"].input_schema["required"] == ["index_code"]
    assert "covered" in tools["income"].output_schema["properties"]


def test_every_table_tool_hits_without_upstream_calls(
    http_server: HttpServer, warehouse: Warehouse, stock: str
) -> None:
    async def body(session: ClientSession) -> None:
        for api, arguments in hit_cases(stock).items():
            warehouse.sim.reset_stats()
            answer = await call(session, api, arguments)
            assert warehouse.sim.stats() == {}, api
            assert (answer["source"], answer["covered"]) == ("warehouse", True), api
            assert answer["as_of"] and answer["fields"], api
            assert answer["items"] or api in EMPTY_PERIOD, api

    in_session(http_server, body)


def test_misses_spend_exactly_the_needed_calls(
    http_server: HttpServer, warehouse: Warehouse, stock: str
) -> None:
    async def body(session: ClientSession) -> None:
        for api, (arguments, calls) in miss_cases(stock).items():
            warehouse.sim.reset_stats()
            answer = await call(session, api, arguments)
            assert warehouse.sim.stats() == calls, api
            assert (answer["source"], answer["covered"]) == ("simulator", False), api
            assert answer["coverage"], api

    in_session(http_server, body)


@pytest.mark.parametrize(("tool", "arguments", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_tool_errors_that_say_what_to_fix(
    http_server: HttpServer, tool: str, arguments: dict[str, Any], message: str
) -> None:
    result = in_session(http_server, lambda s: s.call_tool(tool, arguments))
    assert result.is_error
    assert message in result.content[0].text
    if tool != "index_weight":  # a missing required argument is the SDK's own report
        assert "validation error" not in result.content[0].text  # one line, no pydantic dump


def test_the_generic_query_is_warehouse_first_and_reports_upstream_failures(
    http_server: HttpServer, warehouse: Warehouse, stock: str
) -> None:
    async def body(session: ClientSession) -> None:
        warehouse.sim.reset_stats()
        params = {"ts_code": stock, "start_date": "20240401", "end_date": "20240412"}
        held = await call(session, "query", {"api_name": "daily", "params": params})
        assert held["source"] == "warehouse" and warehouse.sim.stats() == {}
        # A parameter the warehouse cannot filter by: asked live, in one call.
        extra = {**params, "limit": 5000}
        live = await call(session, "query", {"api_name": "daily", "params": extra})
        assert live["source"] == "simulator" and warehouse.sim.stats() == {"daily": 1}
        assert "cannot filter daily by limit" in live["coverage"]
        # An API the simulator does not serve: the upstream's refusal is a tool error.
        unknown = await session.call_tool("query", {"api_name": "namechange"})
        assert unknown.is_error and "live call failed" in unknown.content[0].text
        # A failing upstream (every call a 5xx): a tool error, and the server lives on.
        warehouse.sim.set_faults(error_rate=1.0)
        try:
            failed = await session.call_tool("daily", {"trade_date": "20240506"})
        finally:
            warehouse.sim.set_faults()
        assert failed.is_error and "not answered from the warehouse" in failed.content[0].text
        assert EMBEDDED_TOKEN not in failed.content[0].text + unknown.content[0].text
        again = await call(session, "daily", {"trade_date": "20240415", "limit": 2})
        assert again["source"] == "warehouse" and again["has_more"] and again["next_offset"] == 2

    in_session(http_server, body)


def test_the_warehouse_is_described_for_planning(http_server: HttpServer) -> None:
    async def body(session: ClientSession) -> tuple[Any, Any, Any]:
        resources = await session.list_resources()
        read = await session.read_resource("twilight://warehouse")
        described = await call(session, "describe_warehouse", {})
        return resources, read, described

    resources, read, described = in_session(http_server, body)
    assert [str(r.uri) for r in resources.resources] == ["twilight://warehouse"]
    shown = json.loads(read.contents[0].text)
    assert shown["tables"]["daily"]["partitions_fetched"] > 0
    assert shown["tables"]["daily"]["last_key"] == "20240419"
    assert described["tables"]["income"]["grain"] == "period"
    assert described["snapshot"]["generation"] > 0


@pytest.mark.parametrize("header", [None, "Bearer tw_not-a-token", "Basic abc"])
def test_http_needs_a_valid_bearer_token(http_server: HttpServer, header: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if header:
        headers["Authorization"] = header
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(http_server.url, json=body, headers=headers, timeout=10)
    assert response.status_code == 401


def test_a_revoked_token_is_refused_at_once(http_server: HttpServer, warehouse: Warehouse) -> None:
    store = TokenStore(warehouse.settings().bearer_db_file)
    try:
        token = store.create("short-lived")
        tools = in_session(replace(http_server, token=token), lambda s: s.list_tools())
        assert tools.tools
        store.revoke(user="short-lived")
    finally:
        store.close()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    assert httpx.post(http_server.url, json=body, headers=headers).status_code == 401


def test_no_secret_reaches_the_log(http_server: HttpServer) -> None:
    log = "".join(http_server.output)
    assert "listening on http://127.0.0.1:" in log
    assert http_server.token not in log and EMBEDDED_TOKEN not in log
