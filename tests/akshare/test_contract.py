"""Contract of each ``akshare`` function we use: the request it sends and the columns it returns.

The real function runs against the simulator; if a new ``akshare`` release changes its URL,
parameters or columns, these fail and say which function and what changed.
"""

from __future__ import annotations

from importlib import metadata
from urllib.parse import parse_qs, urlsplit

import pytest

from twilight_resources.akshare import SUPPORTED_AKSHARE, AkshareClient, load_akshare
from twilight_resources.akshare.routing import active_route
from twilight_sim.server import SimServer

HIST_COLUMNS = [
    "日期", "股票代码", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅",
    "涨跌额", "换手率",
]  # fmt: skip
SPOT_COLUMNS = [
    "序号", "代码", "名称", "最新价", "涨跌幅", "涨跌额", "成交量", "成交额", "振幅", "最高",
    "最低", "今开", "昨收", "量比", "换手率", "市盈率-动态", "市净率", "总市值", "流通市值",
    "涨速", "5分钟涨跌", "60日涨跌幅", "年初至今涨跌幅",
]  # fmt: skip
BID_ASK_ITEMS = {"最新", "均价", "涨幅", "涨跌", "总手", "金额", "最高", "最低", "今开", "昨收"}


def last_request(path: str) -> tuple[str, dict[str, list[str]]]:
    route = active_route()
    assert route is not None, "akshare's requests were not routed to the simulator"
    sent = [u for u in route.sent if urlsplit(u).path == path]
    assert sent, (
        f"akshare {metadata.version('akshare')} sent no request to {path}; it now asks "
        f"{sorted({urlsplit(u).netloc + urlsplit(u).path for u in route.sent})}: update "
        "twilight_sim/akshare.py and SUPPORTED_AKSHARE"
    )
    url = urlsplit(sent[-1])
    return url.netloc, parse_qs(url.query)


def expect_columns(function: str, got: list[str], expected: list[str]) -> None:
    assert got == expected, (
        f"akshare {metadata.version('akshare')} {function} changed its columns: "
        f"missing {sorted(set(expected) - set(got))}, new {sorted(set(got) - set(expected))}"
    )


def test_installed_version_is_supported() -> None:
    load_akshare()
    assert metadata.version("akshare") in SUPPORTED_AKSHARE


def test_stock_zh_a_hist(ak_client: AkshareClient, sim: SimServer) -> None:
    ak = load_akshare()
    frame = ak.stock_zh_a_hist("600000", "daily", "20240701", "20240712", "qfq")
    host, params = last_request("/api/qt/stock/kline/get")
    assert host == "push2his.eastmoney.com"
    assert (params["secid"], params["klt"], params["fqt"]) == (["1.600000"], ["101"], ["1"])
    assert (params["beg"], params["end"]) == (["20240701"], ["20240712"])
    expect_columns("stock_zh_a_hist", frame.columns.tolist(), HIST_COLUMNS)
    assert len(frame) == 10 and frame["日期"].iloc[0].isoformat() == "2024-07-01"


def test_stock_bid_ask_em(ak_client: AkshareClient) -> None:
    frame = load_akshare().stock_bid_ask_em("000001")
    host, params = last_request("/api/qt/stock/get")
    assert host == "push2.eastmoney.com" and params["secid"] == ["0.000001"]
    expect_columns("stock_bid_ask_em", frame.columns.tolist(), ["item", "value"])
    missing = BID_ASK_ITEMS - set(frame["item"])
    assert not missing, f"stock_bid_ask_em no longer returns {sorted(missing)}"


def test_stock_zh_a_spot_em(ak_client: AkshareClient, sim: SimServer) -> None:
    frame = load_akshare().stock_zh_a_spot_em()
    host, params = last_request("/api/qt/clist/get")
    assert host == "82.push2.eastmoney.com" and params["pz"] == ["100"] and params["np"] == ["1"]
    expect_columns("stock_zh_a_spot_em", frame.columns.tolist(), SPOT_COLUMNS)
    assert len(frame) == sim.market.universe.size  # everything listed, one page of 12


def test_unknown_code_is_no_data_not_a_crash(ak_client: AkshareClient) -> None:
    from twilight_resources.akshare import AkshareUnavailableError

    assert load_akshare().stock_zh_a_hist("600999").empty  # Eastmoney answers data: null
    with pytest.raises(AkshareUnavailableError, match="600999"):
        ak_client.quote("600999.SH")
