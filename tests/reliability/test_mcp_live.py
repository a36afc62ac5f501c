"""MCP live calls against a scripted upstream: bounded, named when malformed, stopped by SIGTERM.

The MCP HTTP server runs as a real process on an empty home (so every request is asked live)
with small bounds (``TWILIGHT_MCP_LIVE_MAX_ROWS``, ``TWILIGHT_MCP_LIVE_SECONDS``), and is driven
by the SDK's own client session. The upstream answers each API from a script: endless
``has_more`` (in big pages and in one-row pages), each malformed shape, and a slow endless answer
for SIGTERM. Each must end as a tool error that says what happened and how to ask instead,
journalled; a SIGTERM during a live call must end the server promptly and stop its calls.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import CallToolResult

from tests.mcp.conftest import ROOT, _drain, _wait_for_url, http_session
from tests.reliability.harness import platform, report
from tests.scripted_upstream import ScriptedUpstream, ok, scripted_upstream
from twilight_resources.processes import spawn_session, stop_session
from twilight_resources.settings import get_settings
from twilight_resources.tushare.journal import CallJournal
from twilight_serve.auth import TokenStore

MAX_ROWS = 1000
LIVE_SECONDS = 3
CALL_TIMEOUT_S = 30  # a call still running then is the unbounded behaviour under test
FIELDS = ["ts_code", "value"]


def _rows(n: int) -> list[list[Any]]:
    return [[f"{i:06d}.SZ", i] for i in range(n)]


def _env(home: Path, upstream: ScriptedUpstream, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
    return {
        **env,
        "TWILIGHT_HOME": str(home),
        "TWILIGHT_TUSHARE_API_URL": upstream.url,
        "TWILIGHT_CALLS_PER_MINUTE": "100000",
        "TWILIGHT_RETRY_ATTEMPTS": "1",
        "TWILIGHT_RETRY_BACKOFF_BASE": "0.01",
        "TWILIGHT_MCP_LIVE_MAX_ROWS": str(MAX_ROWS),
        "TWILIGHT_MCP_LIVE_SECONDS": str(LIVE_SECONDS),
        "TWILIGHT_MCP_LIVE_MAX_PAGES": "1000",  # one-row pages meet the deadline first
        "TWILIGHT_AKSHARE_ENABLED": "false",
        **extra,
    }


class Mcp:
    def __init__(self, home: Path, upstream: ScriptedUpstream, **extra: str) -> None:
        self.home, self.upstream = home, upstream
        env = _env(home, upstream, **extra)
        with platform(env):
            store = TokenStore(get_settings().bearer_db_file)
            self.token = store.create("live-test")
            store.close()
        self.process = spawn_session(
            [sys.executable, "-m", "twilight_serve.mcp", "--transport", "http", "--port", "0"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE,
        )  # fmt: skip
        self.output: list[str] = []
        self.drain = threading.Thread(target=_drain, args=(self.process, self.output), daemon=True)
        self.drain.start()
        self.url = _wait_for_url(self.process, self.output)

    def query(self, api: str, params: dict[str, Any] | None = None) -> CallToolResult:
        async def main() -> CallToolResult:
            async with http_session(self.url, self.token) as session:
                with anyio.fail_after(CALL_TIMEOUT_S):
                    return await session.call_tool(
                        "query", {"api_name": api, "params": params or {}}
                    )

        return anyio.run(main)

    def journal(self, api: str) -> list[dict[str, Any]]:
        calls = CallJournal(self.home / "state" / "upstream.sqlite").recent(1000)
        return calls[calls["api_name"] == api].to_dict("records")

    def stop(self) -> int:
        code = stop_session(self.process)
        self.drain.join(timeout=5)
        return code


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with scripted_upstream() as server:
        yield server


@pytest.fixture(scope="module")
def mcp(upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mcp]:
    server = Mcp(tmp_path_factory.mktemp("mcp-live") / "home", upstream)
    try:
        yield server
    finally:
        assert server.stop() == 0, "".join(server.output[-20:])


def _calls(upstream: ScriptedUpstream, api: str) -> int:
    with upstream.lock:
        return sum(1 for r in upstream.requests if r["api_name"] == api)


def _error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text  # type: ignore[union-attr]


def test_endless_has_more_stops_at_the_row_cap(mcp: Mcp, upstream: ScriptedUpstream) -> None:
    upstream.scripts["endless_big"] = [ok(FIELDS, _rows(400), has_more=True)]
    text = _error_text(mcp.query("endless_big", {"trade_date": "20240102"}))
    assert f"more than {MAX_ROWS} rows" in text and "name one ts_code" in text, text
    assert _calls(upstream, "endless_big") == 3  # 400, 800, 1200 rows: stopped there
    (entry,) = mcp.journal("endless_big")
    assert entry["outcome"] != "ok" and entry["pages"] == 3, entry


def test_endless_small_pages_stop_at_the_deadline(mcp: Mcp, upstream: ScriptedUpstream) -> None:
    def slow_page(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(0.02)  # one-row pages, slow enough that the deadline comes before the cap
        return ok(FIELDS, _rows(1), has_more=True)

    upstream.scripts["endless_small"] = [slow_page]
    text = _error_text(mcp.query("endless_small", {"ts_code": "000001.SZ"}))
    assert f"longer than {LIVE_SECONDS} s" in text and "start_date..end_date" in text, text
    calls = _calls(upstream, "endless_small")
    time.sleep(0.5)
    assert _calls(upstream, "endless_small") == calls, "the call went on after its answer"
    (entry,) = mcp.journal("endless_small")
    assert entry["attempts"] == calls and entry["outcome"] != "ok", entry


MALFORMED = {
    "bad_list": ([1, 2], "a JSON list, not an object"),
    "bad_string": ("oops", "a JSON str, not an object"),
    "bad_code": ({"code": "abc", "msg": "", "data": None}, "code 'abc' is not a number"),
    "bad_width": (
        {"code": 0, "msg": "", "data": {"fields": FIELDS, "items": [["000001.SZ"]]}},
        "row 0 has 1 values for 2 fields",
    ),
    "bad_items": (
        {"code": 0, "msg": "", "data": {"fields": FIELDS, "items": "x"}},
        "data.items is not a list",
    ),
    "bad_fields": (
        {"code": 0, "msg": "", "data": {"fields": None, "items": []}},
        "data.fields is not a list of names",
    ),
}


@pytest.mark.parametrize("api", sorted(MALFORMED))
def test_malformed_answer_is_a_named_tool_error(
    mcp: Mcp, upstream: ScriptedUpstream, api: str
) -> None:
    payload, named = MALFORMED[api]
    upstream.scripts[api] = [(200, payload)]
    text = _error_text(mcp.query(api, {"ts_code": "000001.SZ"}))
    assert named in text and "not Tushare's shape" in text, text
    assert _calls(upstream, api) == 1  # the same shape comes back: not retried
    (entry,) = mcp.journal(api)
    assert entry["outcome"] != "ok" and named in (entry["error"] or ""), entry


STALL_S = 25.0  # an upstream request answered only after this long


@pytest.mark.parametrize("how", ["slow_endless", "stalled"])
def test_sigterm_during_a_live_call_stops_it_and_the_server(
    upstream: ScriptedUpstream, tmp_path: Path, how: str
) -> None:
    """Endless pages, each after 0.5 s; or one request the upstream holds for ``STALL_S``."""
    api = f"sigterm_{how}"

    def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(0.5 if how == "slow_endless" else STALL_S)
        return ok(FIELDS, _rows(1), has_more=True)

    upstream.scripts[api] = [answer]
    # A live deadline far away: only the SIGTERM can end this call in time.
    server = Mcp(tmp_path / "home", upstream, TWILIGHT_MCP_LIVE_SECONDS="600")
    caller = threading.Thread(target=lambda: _swallow(server, api), daemon=True)
    try:
        caller.start()
        deadline = time.monotonic() + 30
        while _calls(upstream, api) < (2 if how == "slow_endless" else 1):
            assert time.monotonic() < deadline, "the live call never started"
            time.sleep(0.05)
        os.killpg(server.process.pid, signal.SIGTERM)
        signalled = time.monotonic()
        code = server.process.wait(timeout=15)
        report(f"SIGTERM during a live call ({how})", exit_s=round(time.monotonic() - signalled, 2))
    finally:
        if server.process.poll() is None:
            server.stop()
    assert code == 0, "".join(server.output[-20:])
    calls = _calls(upstream, api)
    time.sleep(1.0)
    assert _calls(upstream, api) == calls, "upstream calls went on after exit"
    (entry,) = server.journal(api)
    assert entry["outcome"] != "ok", entry


def _swallow(server: Mcp, api: str) -> None:
    try:
        server.query(api, {"ts_code": "000001.SZ"})
    except BaseException:  # the server went away mid-call: expected here
        pass
