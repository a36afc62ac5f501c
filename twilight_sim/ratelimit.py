"""Tushare's limits as users meet them: per token and API, per minute and per day, by IP count.

- The stated per-minute limit counts each (token, API) over a sliding 60-second window.
- A throttle refuses below the stated limit, as real tokens are refused at times (reports of
  refusals at ~200 calls/min against 400): past ``throttle_per_minute`` calls of one API in the
  window, the whole token is cooled down for ``block_s``, and every call during the cool-down
  (refused itself) starts it again, so only a client that stops calling recovers.
- Daily quotas count per (token, API) and simulated day; the day is the market clock's.
- The IP limit counts the distinct addresses a token was used from (``X-Forwarded-For`` stands in
  for the peer address, all of which are loopback here).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import date
from typing import Literal

WINDOW_S = 60.0

Verdict = Literal["ok", "rate", "throttled", "quota", "ip"]


@dataclass(frozen=True)
class Limits:
    """The limits in force; ``None`` or empty switches a limit off."""

    per_minute: int | None = 500
    api_per_minute: dict[str, int] | None = None
    throttle_per_minute: int | None = None
    block_s: float = 60.0
    daily_quotas: dict[str, int] | None = None
    max_ips: int | None = None
    window_s: float = WINDOW_S  # what "per minute" counts over (shorter in tests)

    def stated(self, api: str) -> int | None:
        return (self.api_per_minute or {}).get(api, self.per_minute)


class RateLimiter:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._daily: dict[tuple[str, str, date], int] = {}
        self._ips: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def check(self, token: str, api: str, ip: str, today: date) -> Verdict:
        """Count a call of ``api`` by ``token`` unless a limit refuses it (then say which)."""
        lim = self.limits
        now = time.monotonic()
        with self._lock:
            if lim.max_ips:
                seen = self._ips.setdefault(token, set())
                seen.add(ip)
                if len(seen) > lim.max_ips:
                    return "ip"
            quota = (lim.daily_quotas or {}).get(api)
            if quota is not None and self._daily.get((token, api, today), 0) >= quota:
                return "quota"
            if self._blocked_until.get(token, 0.0) > now:
                self._blocked_until[token] = now + lim.block_s
                return "throttled"
            calls = self._calls.setdefault((token, api), deque())
            while calls and calls[0] <= now - lim.window_s:
                calls.popleft()
            stated = lim.stated(api)
            if stated and len(calls) >= stated:
                return "rate"
            if lim.throttle_per_minute and len(calls) >= lim.throttle_per_minute:
                self._blocked_until[token] = now + lim.block_s
                return "throttled"
            calls.append(now)
            if quota is not None:
                self._daily[(token, api, today)] = self._daily.get((token, api, today), 0) + 1
            return "ok"

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._blocked_until.clear()
            self._daily.clear()
            self._ips.clear()
