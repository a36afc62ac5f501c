"""Bounds on what one request can make a server hold: its head and its body.

uvicorn's httptools parser accumulates a header of any size (a 60 MB header kept the event
loop busy for seconds, stalling every other client). Both servers here (the read API and the
MCP HTTP server) run uvicorn with :func:`uvicorn_limits`: a head past :data:`MAX_HEAD_BYTES` is
answered 431 and the connection closed. Bodies are bounded by the frameworks' own guards
(FastAPI's ``max_body_size``, the MCP SDK's ``max_request_body_size``), which answer 413 as
soon as a body passes the bound.
"""

from __future__ import annotations

from typing import Any

MAX_HEAD_BYTES = 64 * 1024  # request line and headers; browsers and proxies stay under 16 KiB
# Connections and requests in flight per server; past it uvicorn answers 503 at once.
LIMIT_CONCURRENCY = 512
LINGER_S = 2.0  # how long a refused connection's remaining bytes are drained unparsed
READ_API_MAX_BODY = 64 * 1024  # the read API takes no body: only GET routes
MCP_MAX_BODY = 1024 * 1024  # one JSON-RPC message: tool arguments are small

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # uvicorn without httptools parses with h11, which bounds the head itself
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol refusing a request head past :data:`MAX_HEAD_BYTES`.

        Reads are counted while a head is still incomplete after parsing them: once their sum
        passes the bound the head itself is that large, so a legitimate request is never
        refused, and the parser holds at most the bound and one read.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_open = True
            self._head_bytes = 0
            self._refused = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_open = True

        def on_headers_complete(self) -> None:
            self._head_open = False
            self._head_bytes = 0
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # dropped unparsed until the lingering close
            super().data_received(data)
            if self._head_open and not self.transport.is_closing():
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse_head()

        def _refuse_head(self) -> None:
            msg = f"request head over {MAX_HEAD_BYTES} bytes"
            self.logger.warning("refused a request: %s", msg)
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: " + str(len(msg)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + msg.encode()
            )
            # Closing with unread bytes would reset the connection, and the client would
            # likely lose the answer: end our side, drop what still comes, close a bit later.
            self._refused = True
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)


def uvicorn_limits() -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` bounding each request's head."""
    if HttpToolsProtocol is None:
        http: Any = "h11"
    else:
        http = BoundedHttpToolsProtocol
    return {
        "http": http,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "limit_concurrency": LIMIT_CONCURRENCY,
    }
