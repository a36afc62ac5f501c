"""The server over stdio, spawned by the SDK's own client as a desktop agent client would."""

from typing import Any

import anyio
from mcp import ClientSession

from tests.mcp.cases import EMPTY_PERIOD, hit_cases, miss_cases
from tests.mcp.conftest import Warehouse, stdio_session
from twilight_serve.mcp.catalog import TOOLS_BY_API


async def structured(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


def test_stdio_session_lists_hits_misses_and_refuses_bad_arguments(warehouse: Warehouse) -> None:
    """One session (spawning the server costs seconds): every check over the same pipe."""

    async def main() -> None:
        async with stdio_session(warehouse) as session:
            tools = {t.name for t in (await session.list_tools()).tools}
            assert set(TOOLS_BY_API) | {"query", "describe_warehouse"} == tools

            first = await structured(session, "stock_basic", {"fields": "ts_code", "limit": 1})
            stock: str = first["items"][0][0]
            for api, arguments in hit_cases(stock).items():
                warehouse.sim.reset_stats()
                answer = await structured(session, api, arguments)
                assert warehouse.sim.stats() == {}, api
                assert (answer["source"], answer["covered"]) == ("warehouse", True), api
                assert answer["items"] or api in EMPTY_PERIOD, api

            arguments, calls = miss_cases(stock)["daily"]
            warehouse.sim.reset_stats()
            answer = await structured(session, "daily", arguments)
            assert warehouse.sim.stats() == calls
            assert (answer["source"], answer["covered"]) == ("simulator", False)

            bad = await session.call_tool("daily", {"trade_date": "2024-04-15"})
            assert bad.is_error and "trade_date" in bad.content[0].text  # type: ignore[union-attr]

            read = await session.read_resource("twilight://warehouse")
            assert '"daily"' in read.contents[0].text  # type: ignore[union-attr]

    anyio.run(main)
