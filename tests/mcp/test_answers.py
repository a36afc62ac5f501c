"""The warehouse-first logic in-process: hits, misses, partial hits, paging, coverage keys."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from tests.mcp.cases import BAD_ARGUMENTS, EMPTY_PERIOD, INDEX, hit_cases, miss_cases
from tests.mcp.conftest import PRICES_END, PRICES_START, Warehouse
from twilight_resources.tushare import client_from_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.mcp.answers import Answerer, TushareAnswer
from twilight_serve.mcp.catalog import TOOLS_BY_API
from twilight_serve.mcp.coverage import Coverage
from twilight_serve.mcp.request import table_request


@pytest.fixture(scope="module")
def answerer(warehouse: Warehouse) -> Iterator[Answerer]:
    settings = warehouse.settings()
    reader = WarehouseReader.from_settings(settings)
    answerer = Answerer(settings, reader, lambda: client_from_settings(settings))
    yield answerer
    answerer.close()


@pytest.fixture(scope="module")
def stock(answerer: Answerer) -> str:
    return str(answerer.reader.query("SELECT min(ts_code) FROM normalized_daily").iloc[0, 0])


def ask(answerer: Answerer, api: str, **arguments: object) -> TushareAnswer:
    return answerer.table(table_request(TOOLS_BY_API[api], arguments))


@pytest.mark.parametrize("api", list(TOOLS_BY_API))
def test_every_table_is_a_hit_without_upstream_calls(
    answerer: Answerer, warehouse: Warehouse, stock: str, api: str
) -> None:
    warehouse.sim.reset_stats()
    answer = ask(answerer, api, **hit_cases(stock)[api])
    assert warehouse.sim.stats() == {}
    assert (answer.source, answer.covered) == ("warehouse", True), answer.coverage
    assert answer.as_of is not None and answer.snapshot_generation is not None
    if api not in EMPTY_PERIOD:
        assert answer.total > 0 and answer.items, f"{api}: the hit case should hold rows"
    assert answer.fields == list(TOOLS_BY_API[api].columns)
    assert all(len(row) == len(answer.fields) for row in answer.items)


@pytest.mark.parametrize("api", list(miss_cases("X")))
def test_a_miss_costs_exactly_the_needed_calls(
    answerer: Answerer, warehouse: Warehouse, stock: str, api: str
) -> None:
    arguments, calls = miss_cases(stock)[api]
    warehouse.sim.reset_stats()
    answer = ask(answerer, api, **arguments)
    assert warehouse.sim.stats() == calls
    assert (answer.source, answer.covered) == ("simulator", False)
    assert answer.snapshot_generation is None and answer.as_of is not None


def test_a_partial_hit_is_answered_live_in_full(
    answerer: Answerer, warehouse: Warehouse, stock: str
) -> None:
    arguments, _ = miss_cases(stock)["daily"]
    answer = ask(answerer, "daily", **arguments)
    dates = {row[answer.fields.index("trade_date")] for row in answer.items}
    assert min(dates) <= PRICES_END < max(dates), "both the held and the missing days"
    assert answer.partitions_missing and all(k > PRICES_END for k in answer.partitions_missing)


def test_a_hit_matches_the_live_answer(answerer: Answerer, stock: str) -> None:
    """Same rows, same order (newest first), same shape as Tushare's own answer."""
    params = {"ts_code": stock, "start_date": "20240401", "end_date": "20240412"}
    held = ask(answerer, "daily", **params)
    fresh = answerer.live("daily", params, held.fields, 200, 0, Coverage(False, "test"))
    assert held.items == fresh.items and len(held.items) > 5


def test_paging_and_the_cell_cap(answerer: Answerer) -> None:
    first = ask(answerer, "daily", trade_date="20240415", limit=4)
    assert first.has_more and first.next_offset == 4 and "offset=4" in (first.note or "")
    second = ask(answerer, "daily", trade_date="20240415", limit=4, offset=4)
    assert second.offset == 4 and second.items != first.items
    capped = ask(answerer, "fina_indicator", period="20240331", limit=5000)
    assert len(capped.items) * len(capped.fields) <= 20_000 and "capped" in (capped.note or "")


TABLE_BAD_ARGUMENTS = [case for case in BAD_ARGUMENTS if case[0] in TOOLS_BY_API]


@pytest.mark.parametrize(("api", "arguments", "message"), TABLE_BAD_ARGUMENTS)
def test_bad_arguments_are_tool_errors(
    answerer: Answerer, api: str, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        ask(answerer, api, **arguments)


def test_arguments_of_the_wrong_type_are_tool_errors() -> None:
    """In-process callers have no SDK validation in front: a wrong type is refused by name."""
    tool = TOOLS_BY_API["daily"]
    with pytest.raises(ToolError, match="limit: expected an integer, got str"):
        table_request(tool, {"trade_date": "20240415", "limit": "5"})
    with pytest.raises(ToolError, match="offset: expected an integer, got float"):
        table_request(tool, {"trade_date": "20240415", "offset": 1.5})
    with pytest.raises(ToolError, match="fields: expected names separated by commas, got int"):
        table_request(tool, {"trade_date": "20240415", "fields": 5})


def held_keys(answerer: Answerer, table: str) -> list[str]:
    held = answerer.reader.partitions(table)
    return sorted(held[held["rows"] > 0]["partition_key"])


def test_request_keys_are_the_partitions_the_assets_wrote(answerer: Answerer) -> None:
    """The keys a request needs are exactly the partitions materializing its range wrote."""
    generation = answerer.reader.snapshot_info().generation
    ranges = {"start_date": PRICES_START, "end_date": PRICES_END}
    for api in ("daily", "adj_factor", "weekly", "monthly", "index_dailybasic"):
        tool = TOOLS_BY_API[api]
        keys = answerer.coverage.keys(table_request(tool, ranges), generation)
        assert keys == held_keys(answerer, tool.table), api
    # index_weight's rows of a month are stored under its month end: March's are held, and a
    # range into April needs April's too.
    march = {"index_code": INDEX, "start_date": "20240301", "end_date": "20240329"}
    weights = TOOLS_BY_API["index_weight"]
    held = held_keys(answerer, weights.table)
    assert answerer.coverage.keys(table_request(weights, march), generation) == held
    into_april = {**march, "end_date": "20240402"}
    assert answerer.coverage.keys(table_request(weights, into_april), generation) == [
        *held,
        "20240430",
    ]
    for api in ("income", "disclosure_date"):
        name = "end_date" if api == "disclosure_date" else "period"
        request = table_request(TOOLS_BY_API[api], {name: "20240331"})
        assert answerer.coverage.keys(request, generation) == ["20240331"], api
        assert "20240331" in answerer.reader.partitions(f"normalized_{api}")["partition_key"].values


def test_without_a_snapshot_everything_is_asked_live(
    warehouse: Warehouse, tmp_path: Path, stock: str
) -> None:
    settings = warehouse.settings().model_copy(update={"home": tmp_path / "empty"})
    empty = Answerer(settings, WarehouseReader.from_settings(settings),
                     lambda: client_from_settings(settings))  # fmt: skip
    try:
        warehouse.sim.reset_stats()
        answer = ask(empty, "daily", ts_code=stock, trade_date="20240415")
        assert warehouse.sim.stats() == {"daily": 1}
        assert not answer.covered and "no snapshot" in answer.coverage and answer.items
    finally:
        empty.close()


def test_tushare_defaults_hold_for_reference_tables(
    answerer: Answerer, warehouse: Warehouse
) -> None:
    """stock_basic answers listed stocks unless asked; trade_cal without a start is the whole
    history, which the warehouse does not hold (it starts at TWILIGHT_HISTORY_START)."""
    listed = ask(answerer, "stock_basic", fields="ts_code,list_status")
    assert listed.covered and {row[1] for row in listed.items} == {"L"}
    warehouse.sim.reset_stats()
    calendar = ask(answerer, "trade_cal", end_date="20240331")
    assert not calendar.covered and warehouse.sim.stats() == {"trade_cal": 1}
