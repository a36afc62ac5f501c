"""Where ``akshare``'s HTTP goes: the one place Eastmoney requests are sent elsewhere.

``akshare`` calls ``requests`` directly (a new ``Session`` per call, URLs hard-coded to
Eastmoney hosts). With a base URL configured (``TWILIGHT_AKSHARE_BASE_URL``, or the simulator in
simulator mode), every ``requests`` session hands Eastmoney URLs to one adapter that rewrites
scheme and host to the base URL and keeps path and query; the ``akshare`` functions and their
parsing run unchanged. The adapter also bounds requests that ``akshare`` sends without a timeout
and keeps connections alive (``akshare`` would open one per call).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

EASTMONEY_SUFFIX = ".eastmoney.com"


def is_eastmoney(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == EASTMONEY_SUFFIX[1:] or host.endswith(EASTMONEY_SUFFIX)


class RedirectAdapter(HTTPAdapter):
    """Sends Eastmoney requests to ``base_url`` instead; remembers the last few it sent."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(pool_connections=4, pool_maxsize=32)
        self.base = urlsplit(base_url.rstrip("/"))
        self.timeout = timeout
        self.sent: deque[str] = deque(maxlen=256)  # original URLs, for the contract tests

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        original = request.url or ""
        parts = urlsplit(original)
        request.url = urlunsplit(
            (self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, "")
        )
        self.sent.append(original)
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


_lock = threading.Lock()
_active: RedirectAdapter | None = None
_original_get_adapter = requests.Session.get_adapter


def _get_adapter(self: requests.Session, url: str) -> Any:
    adapter = _active
    if adapter is not None and is_eastmoney(url):
        return adapter
    return _original_get_adapter(self, url)


def route_eastmoney(base_url: str, timeout: float = 10.0) -> RedirectAdapter:
    """Send every Eastmoney request of this process to ``base_url`` (idempotent per URL)."""
    global _active
    with _lock:
        if _active is not None and urlunsplit(_active.base) == base_url.rstrip("/"):
            _active.timeout = timeout
            return _active
        _active = RedirectAdapter(base_url, timeout)
        requests.Session.get_adapter = _get_adapter  # type: ignore[method-assign]
        return _active


def unroute_eastmoney() -> None:
    """Let Eastmoney requests go to Eastmoney again."""
    global _active
    with _lock:
        _active = None
        requests.Session.get_adapter = _original_get_adapter  # type: ignore[method-assign]


def active_route() -> RedirectAdapter | None:
    return _active
