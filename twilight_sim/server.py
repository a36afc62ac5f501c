"""The HTTP server: a stdlib threading server on loopback, routing by method and path regex.

Tushare Pro requests are answered at ``/``, ``/{api_name}`` and ``/dataapi/{api_name}`` (the
``tushare`` SDK posts to ``<url>/{api_name}``); Eastmoney's ``/api/qt/...`` quote endpoints
(what ``akshare`` calls, see :mod:`twilight_sim.akshare`) on the same market; admin endpoints
live under ``/_sim/``. Other
protocols can be mounted on the same market with :meth:`SimServer.add_route`.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from twilight_sim import admin
from twilight_sim.akshare import EastmoneyService
from twilight_sim.faults import FaultConfig, FaultInjector
from twilight_sim.market import Market
from twilight_sim.service import AccessPolicy, SimRequest, SimResponse, TushareService
from twilight_sim.stats import ServedStats

RouteHandler = Callable[[SimRequest, re.Match[str]], SimResponse]
TUSHARE_PATH = re.compile(r"^/(?:dataapi/?)?(?:(?P<api>[A-Za-z][A-Za-z0-9_]*)/?)?$")


class SimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 20240101
    n_stocks: int = Field(200, ge=1, le=10_000)
    start_date: str = "20220101"
    end_date: str | None = None
    n_indices: int = Field(5, ge=1, le=7)
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    rate_limit_per_minute: int | None = Field(500, ge=0)
    tokens: list[str] | None = None
    denied_apis: list[str] = Field(default_factory=list)
    # The unfriendly upstream (twilight_sim.ratelimit): stated per-API limits, a throttle
    # below them, per-day quotas and an IP-count limit; all off by default.
    api_limits: dict[str, int] = Field(default_factory=dict)
    throttle_per_minute: int | None = Field(None, ge=1)
    throttle_block_s: float = Field(60.0, ge=0)
    daily_quotas: dict[str, int] = Field(default_factory=dict)
    max_ips: int | None = Field(None, ge=1)
    limit_window_s: float = Field(60.0, gt=0)  # what per-minute limits count over
    faults: FaultConfig = Field(default_factory=FaultConfig)
    now: str | None = None
    cache_mb: int = Field(256, ge=8)
    warm: bool = False  # generate every price block before serving


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    sim: SimServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        request = SimRequest(method, url.path, dict(parse_qsl(url.query)), dict(self.headers), body)
        response = self.server.sim.route(request)
        if response.wait_s > 0:
            self.server.sim.stopping.wait(response.wait_s)
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging; the stats endpoint is the record."""


class SimServer:
    """A running simulator; also a context manager that stops it on exit."""

    def __init__(self, config: SimConfig, market: Market | None = None) -> None:
        self.config = config
        self.market = market or Market(
            config.seed,
            config.n_stocks,
            config.start_date,
            config.end_date,
            config.n_indices,
            config.cache_mb,
        )
        if config.now:
            self.market.clock.set(config.now)
        self.stopping = threading.Event()
        self.stats_recorder = ServedStats()
        self.faults = FaultInjector(config.faults)
        policy = AccessPolicy(
            config.rate_limit_per_minute,
            config.tokens,
            list(config.denied_apis),
            dict(config.api_limits),
            config.throttle_per_minute,
            config.throttle_block_s,
            dict(config.daily_quotas),
            config.max_ips,
            config.limit_window_s,
        )
        self.tushare = TushareService(self.market, policy, self.faults, self.stats_recorder)
        self._routes: list[tuple[str, re.Pattern[str], RouteHandler]] = [
            ("GET", re.compile(r"^/_sim/(?P<name>\w+)/?$"), self._admin),
            ("POST", re.compile(r"^/_sim/(?P<name>\w+)/?$"), self._admin),
            ("POST", TUSHARE_PATH, lambda req, m: self.tushare.handle(req, m.group("api"))),
        ]
        # Eastmoney's quote endpoints (what `akshare` calls), answered from the same market.
        self.eastmoney = EastmoneyService(self.market, self.stats_recorder)
        self.eastmoney.mount(self)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add_route(self, method: str, pattern: str, handler: RouteHandler) -> None:
        """Serve ``method`` requests whose path fully matches ``pattern`` (checked first)."""
        self._routes.insert(0, (method.upper(), re.compile(pattern), handler))

    def route(self, request: SimRequest) -> SimResponse:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                try:
                    return handler(request, match)
                except Exception as exc:  # a bug must not kill the connection thread
                    self.stats_recorder.error(500)
                    return SimResponse(
                        500, f"simulator error: {exc!r}".encode(), "text/plain; charset=utf-8"
                    )
        return SimResponse(404, b'{"error": "no such route"}')

    def _admin(self, request: SimRequest, match: re.Match[str]) -> SimResponse:
        return admin.handle(self, request, match.group("name"))

    def start(self) -> SimServer:
        if self.config.warm:
            for b in range(self.market.book.n_blocks):
                self.market.book.block(b)
        self._httpd = _HTTPServer((self.config.host, self.config.port), _Handler)
        self._httpd.sim = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            name="twilight-sim",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("simulator not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def stats(self) -> dict[str, int]:
        """Calls received per API since start (or the last reset)."""
        return self.stats_recorder.calls_per_api()

    def stats_detail(self) -> dict[str, object]:
        """Calls, rows, error codes and injected faults, as ``GET /_sim/stats`` shows them."""
        return self.stats_recorder.snapshot()

    def reset_stats(self) -> None:
        """Forget stats, rate-limit windows and fault attempt counts (a fresh replay)."""
        self.stats_recorder.reset()
        self.tushare.limiter.reset()
        self.faults.reset()

    def set_faults(
        self, faults: FaultConfig | dict[str, object] | None = None, **changes: object
    ) -> FaultConfig:
        """Replace the fault config (``None`` and no changes clears every fault)."""
        base = faults if isinstance(faults, FaultConfig) else FaultConfig(**(faults or {}))
        config = base.model_copy(update=changes) if changes else base
        config = FaultConfig.model_validate(config.model_dump())
        self.faults.configure(config)
        return config

    def set_clock(self, now: str | datetime) -> str:
        """Move the simulated "now" (YYYYMMDD, YYYYMMDDTHH:MM, or a datetime)."""
        return self.market.clock.set(now).isoformat()

    def set_policy(self, **changes: object) -> AccessPolicy:
        """Change any AccessPolicy field at runtime (limits, tokens, denied_apis, quotas...)."""
        current = asdict(self.tushare.policy)
        unknown = set(changes) - set(current)
        if unknown:
            raise ValueError(f"unknown policy settings: {sorted(unknown)}")
        policy = AccessPolicy(**{**current, **changes})
        self.tushare.set_policy(policy)
        return policy

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(config: SimConfig | None = None, **overrides: object) -> SimServer:
    """Build the market and serve it in a background thread; ``port=0`` picks a free port."""
    base = config or SimConfig()
    if overrides:
        base = SimConfig.model_validate({**base.model_dump(), **overrides})
    return SimServer(base).start()
