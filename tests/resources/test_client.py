"""The Tushare client over real HTTP: paging, retries, typed errors, journal, no token leaks."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.scripted_upstream import ScriptedUpstream, error, ok
from twilight_resources.tushare import (
    TushareAnswerTooLarge,
    TushareAuthError,
    TushareCancelled,
    TushareClient,
    TushareMalformedAnswer,
    TusharePermissionError,
    TushareRequest,
    TushareRequestError,
    TushareRetriesExhausted,
)
from twilight_resources.tushare.journal import CallJournal

TOKEN = "secret-token-for-client-tests"
FIELDS = ["ts_code", "trade_date", "close"]
RATE_LIMITED = "抱歉，您每分钟最多访问该接口500次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"


def make_client(url: str, tmp_path: Path, **kw: object) -> TushareClient:
    kw.setdefault("backoff_base", 0.01)
    return TushareClient(url, TOKEN, journal=CallJournal(tmp_path / "calls.sqlite"), **kw)


def rows(n: int, start: int = 0) -> list[list[object]]:
    return [[f"{i:06d}.SZ", "20240102", 10.0 + i] for i in range(start, start + n)]


def paged(total: list[list[object]], cap: int):
    """A reply that pages ``total`` by offset/limit, as Tushare does."""

    def reply(body: dict) -> tuple[int, dict]:
        offset = int(body["params"].get("offset", 0))
        limit = int(body["params"].get("limit", cap))
        chunk = total[offset : offset + min(limit, cap)]
        return ok(FIELDS, chunk, has_more=offset + len(chunk) < len(total))

    return reply


def test_pages_through_row_cap_without_loss_or_doubles(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    total = rows(14_500)
    upstream.scripts["daily"] = [paged(total, 6000)]
    frame = make_client(upstream.url, tmp_path).query("daily", {"trade_date": "20240102"})
    assert list(frame.columns) == FIELDS
    assert len(frame) == 14_500
    assert frame["ts_code"].is_unique
    assert frame["ts_code"].tolist() == [r[0] for r in total]
    assert [r["params"].get("offset", 0) for r in upstream.requests] == [0, 6000, 12000]
    assert all(r["token"] == TOKEN and r["api_name"] == "daily" for r in upstream.requests)


def test_full_page_without_has_more_still_asks_for_the_next(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    upstream.scripts["daily"] = [ok(FIELDS, rows(6000)), ok(FIELDS, rows(10, 6000))]
    frame = make_client(upstream.url, tmp_path).query("daily", {"trade_date": "20240102"})
    assert len(frame) == 6010


def test_retry_then_success(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["daily"] = [(500, {}), error(40203, RATE_LIMITED), ok(FIELDS, rows(3))]
    client = make_client(upstream.url, tmp_path)
    frame = client.query("daily", {"trade_date": "20240102"})
    assert len(frame) == 3 and len(upstream.requests) == 3
    call = client.journal.recent().iloc[0]
    assert (call.outcome, call.attempts, call.rows) == ("ok", 3, 3)


def test_retry_exhausted_raises_typed_error(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["daily"] = [(503, {})]
    client = make_client(upstream.url, tmp_path, retry_attempts=2)
    with pytest.raises(TushareRetriesExhausted, match="gave up after 3 attempts: HTTP 503"):
        client.query("daily", {"trade_date": "20240102"})
    assert len(upstream.requests) == 3
    assert client.journal.recent().iloc[0].outcome == "TushareRetriesExhausted"


def test_backoff_doubles(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["daily"] = [(500, {}), (500, {}), (500, {}), ok(FIELDS, rows(1))]
    make_client(upstream.url, tmp_path, backoff_base=0.2).query("daily")
    gaps = [b - a for a, b in zip(upstream.arrivals, upstream.arrivals[1:], strict=False)]
    for gap, expected in zip(gaps, (0.2, 0.4, 0.8), strict=True):
        assert expected <= gap < expected * 1.1 + 0.15


def test_no_retry_on_bad_token(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["daily"] = [error(40101, "您的token不对，请确认。")]
    with pytest.raises(TushareAuthError, match="40101"):
        make_client(upstream.url, tmp_path).query("daily")
    assert len(upstream.requests) == 1


def test_no_retry_on_permission_or_bad_params(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["income_vip"] = [error(40203, "抱歉，您没有接口(income_vip)访问权限")]
    upstream.scripts["daily"] = [error(40001, "参数错误: trade_date 格式不对")]
    client = make_client(upstream.url, tmp_path)
    with pytest.raises(TusharePermissionError, match="income_vip"):
        client.query("income_vip", {"period": "20231231"})
    with pytest.raises(TushareRequestError, match="trade_date"):
        client.query("daily", {"trade_date": "2024-01-02"})
    assert len(upstream.requests) == 2


def test_connection_refused_is_transient_and_typed(tmp_path: Path) -> None:
    client = make_client("http://127.0.0.1:9", tmp_path, retry_attempts=1)
    with pytest.raises(TushareRetriesExhausted, match="connection failed"):
        client.query("daily")


def test_query_many_keeps_several_in_flight(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    def slow(body: dict) -> tuple[int, dict]:
        time.sleep(0.3)
        return ok(FIELDS, [[body["params"]["trade_date"], body["params"]["trade_date"], 1.0]])

    upstream.scripts["daily"] = [slow]
    client = make_client(upstream.url, tmp_path, max_in_flight=4)
    dates = [f"202401{d:02d}" for d in range(1, 9)]
    started = time.monotonic()
    got = {
        req.tag: df
        for req, df in client.query_many(
            TushareRequest("daily", {"trade_date": d}, tag=d) for d in dates
        )
    }
    elapsed = time.monotonic() - started
    assert sorted(got) == dates
    assert all(df.iloc[0]["trade_date"] == d for d, df in got.items())
    assert elapsed < 8 * 0.3 * 0.6  # sequential would take 2.4 s


def test_token_never_in_errors_logs_or_journal(
    upstream: ScriptedUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.scripts["daily"] = [error(40001, f"bad request from token {TOKEN}")]
    upstream.scripts["weekly"] = [(500, {})]
    client = make_client(upstream.url, tmp_path, retry_attempts=1)
    caplog.set_level(logging.DEBUG)
    errors = []
    for api in ("daily", "weekly"):
        with pytest.raises(Exception) as info:
            client.query(api, {"trade_date": "20240102"})
        errors.append(str(info.value))
    journal: pd.DataFrame = client.journal.recent()
    for text in [*errors, caplog.text, journal.to_csv(), repr(client)]:
        assert TOKEN not in text


MALFORMED = [
    ([["not", "an", "object"]], "a JSON list, not an object"),
    ("just a string", "a JSON str, not an object"),
    ({"code": "abc", "msg": ""}, "code 'abc' is not a number"),
    (
        {"code": 0, "data": {"fields": FIELDS, "items": [["000001.SZ", "20240102"]]}},
        "row 0 has 2 values for 3 fields",
    ),
    ({"code": 0, "data": {"fields": FIELDS, "items": "rows"}}, "data.items is not a list"),
    ({"code": 0, "data": {"fields": None, "items": []}}, "data.fields is not a list of names"),
    ({"code": 0, "data": None}, "data is not an object"),
]


@pytest.mark.parametrize(("payload", "named"), MALFORMED)
def test_a_malformed_answer_is_a_typed_error_that_names_the_fault_and_is_journalled(
    upstream: ScriptedUpstream, tmp_path: Path, payload: object, named: str
) -> None:
    upstream.scripts["daily"] = [(200, payload)]  # type: ignore[list-item]
    client = make_client(upstream.url, tmp_path)
    with pytest.raises(TushareMalformedAnswer, match=re.escape(named)):
        client.query("daily")
    assert len(upstream.requests) == 1, "the same answer would come again: not retried"
    call = client.journal.recent().iloc[0]
    assert call.outcome == "TushareMalformedAnswer" and named in call.error


def test_an_answer_that_is_not_json_is_retried(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    cut_short = (200, b'{"code": 0, "data": {"fie')
    upstream.scripts["daily"] = [cut_short, ok(FIELDS, rows(2))]  # type: ignore[list-item]
    assert len(make_client(upstream.url, tmp_path).query("daily")) == 2


def test_max_rows_stops_an_endless_answer(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["daily"] = [ok(FIELDS, rows(100), has_more=True)]  # never ends
    client = make_client(upstream.url, tmp_path)
    with pytest.raises(TushareAnswerTooLarge, match="more than 250 rows .*narrow the request"):
        client.query("daily", max_rows=250)
    assert len(upstream.requests) == 3
    call = client.journal.recent().iloc[0]
    assert (call.outcome, call.pages, call.rows) == ("TushareAnswerTooLarge", 3, 300)


def test_max_pages_stops_endless_small_pages(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["daily"] = [ok(FIELDS, rows(1), has_more=True)]
    with pytest.raises(TushareAnswerTooLarge, match="more than 5 pages"):
        make_client(upstream.url, tmp_path).query("daily", max_pages=5)
    assert len(upstream.requests) == 5


def test_deadline_and_cancel_stop_a_call_in_its_waits(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    upstream.scripts["daily"] = [(503, {})]
    client = make_client(upstream.url, tmp_path, backoff_base=5.0, retry_attempts=5)
    started = time.monotonic()
    with pytest.raises(TushareCancelled, match="deadline"):
        client.query("daily", deadline=time.monotonic() + 1.0)
    assert time.monotonic() - started < 1.0 and len(upstream.requests) == 1
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(TushareCancelled, match="cancelled"):
        client.query("daily", cancel=cancel)
    assert time.monotonic() - started < 2.0
    outcomes = client.journal.recent()["outcome"].tolist()
    assert outcomes == ["TushareCancelled", "TushareCancelled"]


def test_query_many_yields_every_answer_received_before_raising_a_siblings_error(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    def slow_ok(body: dict) -> tuple[int, dict]:
        time.sleep(0.3)  # answered after the sibling failed: still spent, so still yielded
        return ok(FIELDS, rows(1))

    def denied(body: dict) -> tuple[int, dict]:
        time.sleep(0.1)  # the daily call is surely on its way by then
        return error(40203, "抱歉，您没有接口(weekly)访问权限")

    upstream.scripts["daily"] = [slow_ok]
    upstream.scripts["weekly"] = [denied]
    client = make_client(upstream.url, tmp_path, max_in_flight=2)
    got = []
    with pytest.raises(TusharePermissionError):
        for req, _ in client.query_many(
            [
                TushareRequest("daily", tag="answered"),
                TushareRequest("weekly", tag="denied"),
                TushareRequest("daily", tag="never asked"),
            ]
        ):
            got.append(req.tag)
    assert got == ["answered"]
    assert sorted(r["api_name"] for r in upstream.requests) == ["daily", "weekly"]
