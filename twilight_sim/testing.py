"""Helpers for tests: a simulator on a free port, raw protocol calls, a pointed tushare client.

Fixtures themselves live in the test suites (``tests/sim/conftest.py``); these are the parts
any suite can reuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import httpx

from twilight_sim.server import SimConfig, SimServer, start_simulator

TEST_TOKEN = "twilight-test-token"


@contextmanager
def running_simulator(config: SimConfig | None = None, **overrides: object) -> Iterator[SimServer]:
    """A started simulator (free port unless ``port`` is given), stopped on exit."""
    server = start_simulator(config, **overrides)
    try:
        yield server
    finally:
        server.stop()


def call(
    url: str,
    api: str,
    params: dict[str, object] | None = None,
    fields: object = "",
    token: str = TEST_TOKEN,
    client: httpx.Client | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """POST one Tushare request and return the decoded JSON envelope."""
    body = {"api_name": api, "token": token, "params": params or {}, "fields": fields}
    envelope: dict[str, Any] = (
        (client or shared_client()).post(url, json=body, timeout=timeout).json()
    )
    return envelope


@lru_cache(maxsize=1)
def shared_client() -> httpx.Client:
    """One pooled client: a fresh ``httpx.post`` pays ~20 ms building an SSL context."""
    return httpx.Client(limits=httpx.Limits(max_connections=16))


def tushare_client(server: SimServer | str, token: str = TEST_TOKEN, timeout: int = 30) -> Any:
    """``ts.pro_api(token)`` aimed at the simulator (the SDK only allows it via a private name)."""
    import tushare as ts  # slow to import; only suites that use the SDK pay for it

    pro = ts.pro_api(token, timeout=timeout)
    url = server if isinstance(server, str) else server.url
    pro._DataApi__http_url = url + "/dataapi"
    return pro
