"""Request-size bounds: a huge head or body is refused before the server reads (or keeps) it.

Both servers run as real processes (``twilight serve``, ``twilight mcp --transport http``) on
an empty home; the attacks go over raw sockets so nothing on the client side trims them. A head
of 60 MB must get 431 after the first few hundred KiB (read whole, it would hold the event
loop for seconds); a declared body past the bound gets 413 before a byte of
it is sent, and streaming 100 MB chunked must not raise either server's peak RSS.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.harness import BIN, REPO, platform, report
from twilight_resources.processes import spawn_session, stop_session
from twilight_resources.settings import get_settings
from twilight_serve.auth import TokenStore
from twilight_serve.limits import MCP_MAX_BODY, READ_API_MAX_BODY

CHUNK = 64 * 1024
HUGE = 60 * 1024 * 1024


@dataclass(frozen=True)
class Server:
    port: int
    pid: int
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(home: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
    # No upstream is asked here; a closed port makes sure of it.
    return {**env, "TWILIGHT_HOME": str(home), "TWILIGHT_TUSHARE_API_URL": "http://127.0.0.1:9"}


@contextmanager
def running(home: Path, *argv: str) -> Iterator[Server]:
    env = _env(home)
    with platform(env):
        store = TokenStore(get_settings().bearer_db_file)
        token = store.create("limits-test")
        store.close()
    port = _free_port()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    with (home / "logs" / f"{argv[0]}.log").open("wb") as log:
        proc = spawn_session([BIN / "twilight", *argv, "--port", str(port)], env=env, cwd=REPO,
                             stdout=log)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, f"{argv} did not start"
                time.sleep(0.2)
        yield Server(port, proc.pid, token)
    finally:
        stop_session(proc, timeout=30)


@pytest.fixture(scope="module", params=["serve", "mcp"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    home = tmp_path_factory.mktemp(request.param) / "home"
    argv = ("serve",) if request.param == "serve" else ("mcp", "--transport", "http")
    with running(home, *argv) as server:
        yield request.param, server


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _stream(port: int, head: bytes, tail: Iterator[bytes]) -> tuple[bytes, int]:
    """Send ``head`` then ``tail`` until the server answers or drops us; (answer, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent, answer = 0, b""
    try:
        sock.sendall(head)
        sent = len(head)
        for chunk in tail:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except OSError:  # reset or broken pipe: the server stopped reading
                break
            sent += len(chunk)
        sock.settimeout(30)
        try:
            while chunk := sock.recv(CHUNK):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except OSError:
            pass
    finally:
        sock.close()
    return answer, sent


def _filler(total: int) -> Iterator[bytes]:
    block = b"a" * CHUNK
    for _ in range(total // CHUNK):
        yield block


def _path(kind: str) -> str:
    return "/whoami" if kind == "serve" else "/mcp"


def test_huge_head_without_token_is_refused_unread(server: tuple[str, Server]) -> None:
    kind, srv = server
    head = f"GET {_path(kind)} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nX-Pad: ".encode()
    started = time.monotonic()
    answer, sent = _stream(srv.port, head, _filler(HUGE))
    report(f"huge head ({kind})", sent_bytes=sent, seconds=round(time.monotonic() - started, 3))
    assert _status(answer) == 431
    # Loopback buffers hold a few MiB; the server itself stopped at the bound.
    assert sent < HUGE // 4, f"the server read {sent} bytes of a {HUGE}-byte head"
    # It still serves: a normal request right after is answered.
    ok, _ = _stream(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", iter(()))
    assert _status(ok) in (200, 404)


def test_declared_huge_body_with_token_is_refused_before_reading(
    server: tuple[str, Server],
) -> None:
    kind, srv = server
    bound = READ_API_MAX_BODY if kind == "serve" else MCP_MAX_BODY
    method = "GET" if kind == "serve" else "POST"
    head = (
        f"{method} {_path(kind)} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        f"Authorization: Bearer {srv.token}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {bound + 1}\r\n\r\n"
    ).encode()
    answer, _ = _stream(srv.port, head, iter(()))  # not a byte of the body is sent
    assert _status(answer) == 413


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _chunked(total: int) -> Iterator[bytes]:
    for block in _filler(total):
        yield f"{len(block):x}\r\n".encode() + block + b"\r\n"
    yield b"0\r\n\r\n"


def test_streamed_huge_body_with_token_does_not_grow_the_server(
    server: tuple[str, Server],
) -> None:
    kind, srv = server
    method = "GET" if kind == "serve" else "POST"
    head = (
        f"{method} {_path(kind)} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        f"Authorization: Bearer {srv.token}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    before = _peak_rss(srv.pid)
    answer, sent = _stream(srv.port, head, _chunked(100 * 1024 * 1024))
    time.sleep(0.2)
    grown = _peak_rss(srv.pid) - before
    report(f"chunked 100 MB body ({kind})", sent_bytes=sent, peak_rss_growth_bytes=grown)
    assert grown < 32 * 1024 * 1024, f"peak RSS grew {grown} bytes"
    # The MCP server refuses past its bound; the read API answers its GET route without
    # reading the body (uvicorn then drops the rest unbuffered).
    assert _status(answer) == (413 if kind == "mcp" else 200)
