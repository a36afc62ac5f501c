"""A simulator that also speaks Eastmoney, and ``akshare`` routed to it over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, instance_for_test

# The serve suite's warehouse and app, for /price and /quality/diff over AKShare.
from tests.serve.conftest import client, clock, served, settings, token  # noqa: F401
from twilight_resources.akshare import AkshareClient, route_eastmoney, unroute_eastmoney
from twilight_resources.settings import reset_settings
from twilight_sim.akshare import AkshareFaults
from twilight_sim.server import SimConfig, SimServer, start_simulator

# May to July 2024 (holidays, ex-dividend days); 12 stocks on both exchanges and three boards.
SIM = {"seed": 7, "n_stocks": 12, "start_date": "20240501", "end_date": "20240731"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as server:
        yield server
    unroute_eastmoney()


@pytest.fixture
def ak_client(sim: SimServer) -> Iterator[AkshareClient]:
    """The real ``akshare`` functions, their Eastmoney requests sent to ``sim``."""
    sim.set_clock("20240731T23:00")
    sim.eastmoney.configure(AkshareFaults())
    route_eastmoney(sim.url, timeout=10)
    yield AkshareClient(sim.url, timeout=10)
    sim.eastmoney.configure(AkshareFaults())


@pytest.fixture
def platform(
    twilight_home: Path, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """TWILIGHT_HOME on ``sim`` (Tushare and AKShare both), the sim's clock after July's close."""
    monkeypatch.setenv("TWILIGHT_TUSHARE_API_URL", sim.url)
    monkeypatch.setenv("TWILIGHT_CALLS_PER_MINUTE", "100000")
    monkeypatch.setenv("TWILIGHT_HISTORY_START", SIM["start_date"])
    monkeypatch.setenv("TWILIGHT_RETRY_ATTEMPTS", "1")
    reset_settings()
    sim.set_clock("20240731T23:59:59")
    sim.set_policy(denied_apis=[])
    sim.eastmoney.configure(AkshareFaults())
    sim.reset_stats()
    yield twilight_home
    sim.eastmoney.configure(AkshareFaults())
    sim.set_policy(denied_apis=[])


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


class Receiver:
    """A webhook on loopback that records what is posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()
