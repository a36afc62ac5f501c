"""Per-token calls-per-minute limit over a sliding 60-second window, like Tushare's."""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int | None) -> None:
        self.per_minute = per_minute
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, token: str) -> bool:
        """Count a call for ``token`` unless it already made ``per_minute`` in the window."""
        if not self.per_minute:
            return True
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(token, deque())
            while calls and calls[0] <= now - WINDOW_S:
                calls.popleft()
            if len(calls) >= self.per_minute:
                return False
            calls.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
