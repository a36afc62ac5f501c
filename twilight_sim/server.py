"""The HTTP server: a stdlib threading server on loopback, routing by method and path regex.

Tushare Pro requests are answered at ``/``, ``/{api_name}`` and ``/dataapi/{api_name}`` (the
``tushare`` SDK posts to ``<url>/{api_name}``); Eastmoney's ``/api/qt/...`` quote endpoints
(what ``akshare`` calls, see :mod:`twilight_sim.akshare`) on the same market; admin endpoints
(:mod:`twilight_sim.admin`) live under ``/_sim/``. Other protocols can be mounted on the same
market with :meth:`SimServer.add_route`.
"""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from twilight_sim import admin
from twilight_sim.market import Market
from twilight_sim.service import RouteHandler, SimRequest, SimResponse
from twilight_sim.simulation import SimConfig, Simulation

__all__ = ["SimConfig", "SimServer", "start_simulator"]
TUSHARE_PATH = re.compile(r"^/(?:dataapi/?)?(?:(?P<api>[A-Za-z][A-Za-z0-9_]*)/?)?$")


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


class SimServer(Simulation):
    """A running simulator; also a context manager that stops it on exit."""

    def __init__(self, config: SimConfig, market: Market | None = None) -> None:
        super().__init__(config, market)
        self.stopping = threading.Event()
        self._routes: list[tuple[str, re.Pattern[str], RouteHandler]] = [
            ("GET", re.compile(r"^/_sim/(?P<name>\w+)/?$"), self._admin),
            ("POST", re.compile(r"^/_sim/(?P<name>\w+)/?$"), self._admin),
            ("POST", TUSHARE_PATH, lambda req, m: self.tushare.handle(req, m.group("api"))),
        ]
        for method, pattern, handler in self.eastmoney.routes():
            self.add_route(method, pattern, handler)
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
