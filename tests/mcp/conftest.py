"""A warehouse filled from the simulator once per package, and the MCP server over it.

Prices are materialized only from ``PRICES_START`` to ``PRICES_END``, so a later range is a miss
(and a range that straddles it a partial hit, which must go live in full). The report period
20240331 is materialized for every financial table. The servers run as real subprocesses:
stdio spawned by the SDK's own client, streamable HTTP started here in its own session and
always reaped.
"""

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import instance_for_test
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.serve.conftest import create_token
from twilight_resources.processes import spawn_session, stop_session
from twilight_resources.settings import TwilightSettings, load_settings, reset_settings
from twilight_sim.server import SimConfig, SimServer, start_simulator

SIM = {"seed": 5, "n_stocks": 6, "start_date": "20240101", "end_date": "20240531"}
HISTORY_START = "20240301"
# Few trading days keep the Dagster runs short; the range still holds a week and a month end.
PRICES_START, PRICES_END = "20240325", "20240419"
REFERENCE = ["trade_cal", "stock_basic", "index_basic"]
PRICES = [
    "daily", "adj_factor", "daily_basic", "weekly", "monthly", "index_daily", "index_dailybasic",
    "index_weight",
]  # fmt: skip
FINANCIALS = [
    "disclosure_date", "income", "balancesheet", "cashflow", "fina_indicator", "forecast",
    "express",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"listening on (http://\S+/mcp)")
START_TIMEOUT_S = 90


@dataclass
class Warehouse:
    """The module's simulator and the TWILIGHT_HOME whose warehouse it filled."""

    sim: SimServer
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a server process of this home (no inherited TWILIGHT_*)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("TWILIGHT_")}
        return {
            **base,
            "TWILIGHT_HOME": str(self.home),
            "TWILIGHT_TUSHARE_API_URL": self.sim.url,
            "TWILIGHT_CALLS_PER_MINUTE": "100000",
            "TWILIGHT_HISTORY_START": HISTORY_START,
            "TWILIGHT_RETRY_BACKOFF_BASE": "0.01",
            "TWILIGHT_RETRY_ATTEMPTS": "1",
            **extra,
        }

    def settings(self) -> TwilightSettings:
        return load_settings(
            home=self.home,
            tushare_api_url=self.sim.url,
            calls_per_minute=100_000,
            history_start=HISTORY_START,
        )


@pytest.fixture(scope="package")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    from twilight_assets.runner import materialize_tables

    home = tmp_path_factory.mktemp("mcp") / "home"
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as sim:
        with pytest.MonkeyPatch.context() as mp:
            for name in list(os.environ):
                if name.startswith("TWILIGHT_"):
                    mp.delenv(name)
            for name, value in Warehouse(sim, home).env().items():
                if name.startswith("TWILIGHT_"):
                    mp.setenv(name, value)
            reset_settings()
            with instance_for_test() as instance:
                materialize_tables(REFERENCE, instance)
                materialize_tables(PRICES, instance, start=PRICES_START, end=PRICES_END)
                materialize_tables(FINANCIALS, instance)
        reset_settings()
        yield Warehouse(sim, home)


@dataclass
class HttpServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    output: list[str]  # every line the server printed (drained so its pipe never fills)


@pytest.fixture(scope="package")
def http_server(warehouse: Warehouse) -> Iterator[HttpServer]:
    """``twilight mcp --transport http --port 0`` in its own session; reaped on teardown."""
    token = create_token(warehouse.settings(), "mcp-tests")
    process = spawn_session(
        [sys.executable, "-m", "twilight_serve.mcp", "--transport", "http", "--port", "0"],
        env=warehouse.env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    output: list[str] = []
    drain = threading.Thread(target=_drain, args=(process, output), daemon=True)
    drain.start()
    try:
        url = _wait_for_url(process, output)
        yield HttpServer(url, token, process, output)
    finally:
        code = stop_session(process)
        drain.join(timeout=5)
    assert code == 0, "SIGTERM should stop the server cleanly:\n" + "".join(output[-20:])


def _drain(process: subprocess.Popen[bytes], output: list[str]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        output.append(raw.decode(errors="replace"))


def _wait_for_url(process: subprocess.Popen[bytes], output: list[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in list(output):
            match = URL_LINE.search(line)
            if match:
                return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError("the MCP HTTP server did not start:\n" + "".join(output))


@asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@asynccontextmanager
async def stdio_session(warehouse: Warehouse) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "twilight_serve.mcp", "--transport", "stdio"],
        env=warehouse.env(),
        cwd=ROOT,
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session
