"""The MCP server and its two transports: stdio (no auth) and streamable HTTP (bearer auth).

stdio is started by the local user's agent client, so it needs no token; its stdout is the
protocol channel, so logs go to stderr. HTTP listens on loopback by default and checks
``Authorization: Bearer`` against the read API's hashed token store through the SDK's own
``TokenVerifier`` hook (401 without a valid token), and stops cleanly (status 0) on SIGINT or
SIGTERM.
"""

import argparse
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Literal

import anyio
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

from twilight_resources.settings import TwilightSettings
from twilight_resources.tushare import TushareClient, client_from_settings
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.auth import TokenStore
from twilight_serve.limits import MCP_MAX_BODY, uvicorn_limits
from twilight_serve.mcp.answers import Answerer
from twilight_serve.mcp.describe import describe
from twilight_serve.mcp.tools import register_tools

log = logging.getLogger(__name__)

Transport = Literal["stdio", "http"]
MCP_PATH = "/mcp"
SHUTDOWN_GRACE_S = 5  # whole seconds: uvicorn's timeout_graceful_shutdown is an int
INSTRUCTIONS = (
    "China A-share data in Tushare's shape. Call describe_warehouse (or read "
    "twilight://warehouse) first: requests the warehouse covers are answered locally at no "
    "upstream cost; others are asked live from the budgeted Tushare upstream."
)


class StoreTokenVerifier:
    """The SDK's bearer hook over the read API's token store (tokens are kept hashed)."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = await anyio.to_thread.run_sync(self.store.verify, token)
        if principal is None:
            return None
        return AccessToken(token=token, client_id=principal.user, scopes=[])


def build_server(
    settings: TwilightSettings,
    answerer: Answerer | None = None,
    token_store: TokenStore | None = None,
    url: str | None = None,
) -> tuple[MCPServer, Answerer]:
    """The server with every tool and the warehouse resource; bearer auth if a store is given."""
    answerer = answerer or Answerer(
        settings,
        WarehouseReader.from_settings(settings, read_unpublished=False),
        _client_factory(settings),
    )
    verifier: StoreTokenVerifier | None = None
    auth: AuthSettings | None = None
    if token_store is not None:
        verifier = StoreTokenVerifier(token_store)
        auth = AuthSettings(issuer_url=url or "http://127.0.0.1", resource_server_url=None)
    server: MCPServer = MCPServer(
        "twilight",
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        token_verifier=verifier,
        auth=auth,
    )
    register_tools(server, answerer)

    @server.resource(
        "twilight://warehouse",
        name="warehouse",
        mime_type="application/json",
        description="Tables, partitions fetched, key spans, freshness of the warehouse snapshot",
    )
    def warehouse() -> str:
        return json.dumps(describe(answerer), ensure_ascii=False)

    return server, answerer


class _GracefulServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown, which kills the process
    before our cleanup runs; here a stop request ends the process with status 0 instead. It
    also stops the answerer's live calls in flight, which would otherwise hold the shutdown
    until the upstream stops answering (an endless ``has_more`` never does)."""

    def __init__(self, config: uvicorn.Config, answerer: Answerer) -> None:
        super().__init__(config)
        self.answerer = answerer

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.answerer.stop()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop without waiting for sessions
        else:
            self.should_exit = True


def _client_factory(settings: TwilightSettings) -> Callable[[], TushareClient]:
    return lambda: client_from_settings(settings)


def _logs_to_stderr() -> None:
    """stdout carries the protocol under stdio: move every stdout log handler to stderr."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def _bind(host: str, port: int) -> socket.socket:
    """Bind first, so the printed URL has the real port even when 0 asked for a free one."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections queue until uvicorn serves, so the logged URL is usable
    return sock


def mcp_parser(prog: str) -> argparse.ArgumentParser:
    """The options of ``twilight mcp`` and ``python -m twilight_serve.mcp``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the MCP server: Tushare-shaped tools, warehouse first, live upstream "
        "otherwise.",
    )
    parser.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio for desktop agent clients; http: streamable HTTP, bearer auth",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (http)")
    parser.add_argument("--port", type=int, default=8765, help="port (http; 0 picks a free one)")
    return parser


def run_mcp(
    settings: TwilightSettings,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
) -> int:
    """Serve until the client leaves (stdio) or SIGINT/SIGTERM (http); the exit status."""
    if transport == "stdio":
        _logs_to_stderr()
        server, answerer = build_server(settings)
        try:
            anyio.run(server.run_stdio_async)
        finally:
            answerer.close()
        return 0
    for name in ("mcp.server.streamable_http", "mcp.server.streamable_http_manager"):
        logging.getLogger(name).setLevel(logging.WARNING)  # a line per session is noise
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound}{MCP_PATH}"
    store = TokenStore(settings.bearer_db_file)
    server, answerer = build_server(settings, token_store=store, url=url.removesuffix(MCP_PATH))
    # Plain JSON answers rather than an SSE stream per call: no tool streams, and it is cheaper.
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, host=host, json_response=True,
        max_request_body_size=MCP_MAX_BODY,
    )  # fmt: skip
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on",
        # A request still running this long after SIGTERM (an upstream request in flight
        # when the live call was stopped) is cut off.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **uvicorn_limits(),
    )  # fmt: skip
    log.info("twilight mcp: listening on %s (Authorization: Bearer <token>)", url)
    try:
        _GracefulServer(config, answerer).run(sockets=[sock])
    finally:
        stuck = answerer.abandon()
        answerer.close()
        store.close()
        sock.close()
    if stuck:
        log.warning("stopped with %d live call(s) still waiting on the upstream", stuck)
    log.info("twilight mcp stopped")
    return 0
