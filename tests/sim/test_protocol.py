"""The wire protocol: routes, paging, errors, rate limit, field selection, admin, concurrency."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from twilight_sim.fields import ROW_CAPS
from twilight_sim.server import SimServer
from twilight_sim.testing import TEST_TOKEN, call, running_simulator

RATE_MSG = (
    "抱歉，您每分钟最多访问该接口{n}次，"
    "权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
)


def test_envelope_shape(sim: SimServer) -> None:
    answer = call(sim.url, "daily", {"trade_date": "20240510"})
    assert set(answer) == {"request_id", "code", "msg", "data"}
    assert re.fullmatch(r"[0-9a-f]{32}\d{16}", answer["request_id"])
    assert answer["code"] == 0 and answer["msg"] == ""
    assert set(answer["data"]) == {"fields", "items", "has_more"}
    assert answer["data"]["has_more"] is False


@pytest.mark.parametrize("path", ["", "/", "/daily", "/dataapi/daily", "/dataapi"])
def test_every_route_answers_the_same(sim: SimServer, path: str) -> None:
    body = {
        "api_name": "daily",
        "token": TEST_TOKEN,
        "params": {"trade_date": "20240510"},
        "fields": "",
    }
    if path.endswith("/daily"):
        body.pop("api_name")  # the api name may come from the path alone
    answer = httpx.post(sim.url + path, json=body).json()
    assert answer["data"] == call(sim.url, "daily", {"trade_date": "20240510"})["data"]


def _all_pages(url: str, api: str, params: dict, limit: int | None = None) -> tuple[list, int]:
    rows: list = []
    pages = 0
    while True:
        page_params = {**params, "offset": len(rows)}
        if limit:
            page_params["limit"] = limit
        data = call(url, api, page_params)["data"]
        rows += data["items"]
        pages += 1
        if not data["has_more"]:
            return rows, pages
        assert len(data["items"]) == (limit or ROW_CAPS[api])


@pytest.mark.parametrize(
    ("api", "params", "limit"),
    [
        ("daily", {"start_date": "20240101", "end_date": "20240331"}, None),
        ("adj_factor", {"start_date": "20240101", "end_date": "20240430"}, None),
        ("weekly", {"start_date": "20230101"}, 1000),
        ("income_vip", {"period": "20231231"}, 17),
        ("index_daily", {"ts_code": "000300.SH"}, 100),
    ],
)
def test_paging_loses_and_doubles_nothing(
    sim: SimServer, api: str, params: dict, limit: int | None
) -> None:
    rows, pages = _all_pages(sim.url, api, params, limit)
    assert pages > 1
    expected = sim.market.query(api, **params)
    assert len(rows) == len(expected)
    keys = {tuple(r[:3]) for r in rows}
    assert len(keys) == len(rows) or api == "income_vip"
    assert rows == json.loads(expected.to_json(orient="values"))


def test_fina_indicator_is_capped_at_60_rows(sim: SimServer) -> None:
    codes = ",".join(sim.market.universe.ts_code[:10])
    data = call(sim.url, "fina_indicator", {"ts_code": codes})["data"]
    assert len(data["items"]) == 60 and data["has_more"] is True


def test_rate_limit_answers_40203_after_n_calls() -> None:
    with running_simulator(n_stocks=10, rate_limit_per_minute=5) as server:
        with httpx.Client() as client:
            for _ in range(5):
                assert call(server.url, "trade_cal", client=client)["code"] == 0
            blocked = call(server.url, "trade_cal", client=client)
            assert blocked["code"] == 40203 and blocked["msg"] == RATE_MSG.format(n=5)
            assert call(server.url, "trade_cal", token="other", client=client)["code"] == 0
            server.set_policy(rate_limit_per_minute=None)
            assert call(server.url, "trade_cal", client=client)["code"] == 0


def test_tokens_and_permissions() -> None:
    with running_simulator(n_stocks=10, tokens=["good"], denied_apis=["income_vip"]) as server:
        assert call(server.url, "daily", token="")["code"] == 40101
        bad = call(server.url, "daily", token="wrong")
        assert bad["code"] == 40101 and bad["msg"] == "您的token不对，请确认。"
        assert call(server.url, "daily", token="good")["code"] == 0
        denied = call(server.url, "income_vip", {"period": "20231231"}, token="good")
        assert denied["code"] == 40203 and denied["msg"] == "抱歉，您没有接口(income_vip)访问权限"


def test_any_non_empty_token_is_accepted_by_default(sim: SimServer) -> None:
    assert call(sim.url, "trade_cal", token="anything")["code"] == 0
    assert call(sim.url, "trade_cal", token="")["code"] == 40101


@pytest.mark.parametrize(
    ("api", "params"),
    [
        ("daily", {"trade_date": "2024-05-10"}),
        ("daily", {"trade_date": "20240231"}),
        ("daily", {"limit": "many"}),
        ("daily", {"offset": -1}),
        ("daily", {"ts_code": "000001"}),
        ("stock_basic", {"list_status": "X"}),
        ("trade_cal", {"exchange": "NYSE"}),
        ("income", {}),
        ("index_weight", {}),
    ],
)
def test_bad_params_get_a_clear_error(sim: SimServer, api: str, params: dict) -> None:
    answer = call(sim.url, api, params)
    assert answer["code"] == -2001 and answer["msg"].startswith("参数错误")
    assert answer["data"] is None


def test_unknown_api_field_and_broken_body(sim: SimServer) -> None:
    """Worded as api.tushare.pro words them (code -2001, seen in waditu/tushare issues)."""
    unknown = call(sim.url, "no_such_api")
    assert unknown == {**unknown, "code": -2001, "msg": "抱歉，没有no_such_api接口", "data": None}
    field = call(sim.url, "trade_cal", fields="exchange_id,cal_date")
    assert field["code"] == -2001 and field["msg"] == "接口trade_cal不包含字段exchange_id"
    broken = httpx.post(sim.url, content=b"{not json").json()
    assert broken["code"] == -2001 and broken["data"] is None


def test_no_data_is_an_empty_answer_with_fields(sim: SimServer) -> None:
    data = call(sim.url, "daily", {"trade_date": "20240511"})["data"]  # a Saturday
    assert data == {"fields": data["fields"], "items": [], "has_more": False}
    assert data["fields"][:2] == ["ts_code", "trade_date"]
    assert call(sim.url, "daily", {"ts_code": "999999.SZ"})["data"]["items"] == []


def test_fields_param_selects_and_orders(sim: SimServer) -> None:
    params = {"trade_date": "20240510"}
    as_text = call(sim.url, "daily", params, fields="close, ts_code")["data"]
    assert as_text["fields"] == ["close", "ts_code"]
    as_list = call(sim.url, "daily", params, fields=["close", "ts_code"])["data"]
    assert as_list == as_text
    hidden = call(sim.url, "stock_basic", {}, fields="ts_code,list_status,delist_date")["data"]
    assert hidden["fields"] == ["ts_code", "list_status", "delist_date"]


def test_comma_separated_codes_and_list_status(sim: SimServer) -> None:
    codes = sim.market.universe.ts_code[:3]
    data = call(sim.url, "daily", {"ts_code": ",".join(codes), "trade_date": "20240510"})["data"]
    assert {r[0] for r in data["items"]} <= set(codes) and data["items"]
    gone = call(
        sim.url, "stock_basic", {"list_status": "D"}, fields="ts_code,list_status,delist_date"
    )["data"]["items"]
    assert gone and all(r[1] == "D" and r[2] for r in gone)


def test_admin_endpoints(small_sim: SimServer) -> None:
    url = small_sim.url
    health = httpx.get(url + "/_sim/health").json()
    assert health["status"] == "ok" and health["seed"] == 3
    httpx.post(url + "/_sim/reset")
    call(url, "daily", {"trade_date": "20240510"})
    call(url, "daily", {"trade_date": "20240513"})
    stats = httpx.get(url + "/_sim/stats").json()
    assert stats["calls"] == {"daily": 2} and stats["total_rows"] == stats["rows"]["daily"] > 0
    assert small_sim.stats() == {"daily": 2}
    assert httpx.post(url + "/_sim/reset").json() == {"status": "ok"}
    assert httpx.get(url + "/_sim/stats").json()["total_calls"] == 0
    faults = httpx.post(url + "/_sim/faults", json={"error_rate": 0.5, "seed": 9}).json()
    assert faults["error_rate"] == 0.5 and httpx.get(url + "/_sim/faults").json()["seed"] == 9
    assert httpx.post(url + "/_sim/faults", json={"error_rate": 2}).status_code == 400
    httpx.post(url + "/_sim/faults", json={})
    clock = httpx.post(url + "/_sim/clock", json={"now": "20240415T10:00"}).json()
    assert clock["now"] == "2024-04-15T10:00:00"
    assert (
        httpx.post(url + "/_sim/clock", json={"advance_days": 1})
        .json()["now"]
        .startswith("2024-04-16")
    )
    config = httpx.post(url + "/_sim/config", json={"rate_limit_per_minute": 7}).json()
    assert config["rate_limit_per_minute"] == 7
    apis = httpx.get(url + "/_sim/apis").json()
    assert apis["daily"]["row_cap"] == 6000 and "income_vip" in apis
    assert httpx.get(url + "/_sim/nope").status_code == 404


def test_concurrent_requests(sim: SimServer) -> None:
    days = [str(d) for d in sim.market.days.trade_dates[-24:]]
    expected = {d: call(sim.url, "daily", {"trade_date": d})["data"] for d in days}
    with httpx.Client(limits=httpx.Limits(max_connections=8)) as client:
        with ThreadPoolExecutor(8) as pool:
            got = list(
                pool.map(
                    lambda d: call(sim.url, "daily", {"trade_date": d}, client=client)["data"], days
                )
            )
    assert got == [expected[d] for d in days]
