"""A scripted Tushare-protocol server on loopback, for failure sequences the simulator's random
faults cannot pin down exactly (e.g. "500, 500, then success")."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, Any]] | Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def ok(fields: list[str], items: list[list[Any]], has_more: bool = False) -> tuple[int, dict]:
    data = {"fields": fields, "items": items, "has_more": has_more}
    return 200, {"code": 0, "msg": "", "data": data}


def error(code: int, msg: str) -> tuple[int, dict]:
    return 200, {"code": code, "msg": msg, "data": None}


@dataclass
class ScriptedUpstream:
    """Answers from a per-api script (a list consumed in order; the last entry repeats)."""

    url: str = ""
    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_for(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(body)
            self.arrivals.append(time.time())
            script = self.scripts[body["api_name"]]
            reply = script.pop(0) if len(script) > 1 else script[0]
        return reply(body) if callable(reply) else reply


@contextmanager
def scripted_upstream() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, payload = upstream.reply_for(body)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
