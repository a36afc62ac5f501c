"""The Tushare Pro endpoint: auth, permissions, rate limit, faults, then the market's answer.

Checks run in the order a real deployment shows them: network-level faults first (the request
never reaches the API), then token, permission and rate limit, then the query itself.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from twilight_sim import protocol as proto
from twilight_sim.apis import HANDLERS, answer
from twilight_sim.faults import FaultInjector, FaultPlan
from twilight_sim.market import Market
from twilight_sim.params import ParamError
from twilight_sim.ratelimit import Limits, RateLimiter
from twilight_sim.stats import ServedStats

JSON = "application/json; charset=utf-8"


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class SimResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = JSON
    drop: bool = False  # close the connection without answering
    wait_s: float = 0.0  # sleep first (latency or a timeout longer than the client waits)
    headers: dict[str, str] = field(default_factory=dict)


RouteHandler = Callable[[SimRequest, re.Match[str]], SimResponse]
Route = tuple[str, str, RouteHandler]  # method, path pattern (matched whole), handler


@dataclass
class AccessPolicy:
    """Who may call what, how often: see :mod:`twilight_sim.ratelimit` for each limit."""

    rate_limit_per_minute: int | None = 500  # stated, per token and API
    tokens: list[str] | None = None
    denied_apis: list[str] = field(default_factory=list)
    api_limits: dict[str, int] = field(default_factory=dict)  # stated per-minute, by API
    throttle_per_minute: int | None = None  # refused past this, below the stated limit
    throttle_block_s: float = 60.0
    daily_quotas: dict[str, int] = field(default_factory=dict)
    max_ips: int | None = None
    limit_window_s: float = 60.0

    def limits(self) -> Limits:
        return Limits(
            self.rate_limit_per_minute,
            dict(self.api_limits),
            self.throttle_per_minute,
            self.throttle_block_s,
            dict(self.daily_quotas),
            self.max_ips,
            self.limit_window_s,
        )


def req_ip(headers: dict[str, str]) -> str:
    """The caller's address: X-Forwarded-For where a test names one, else loopback."""
    forwarded = next((v for k, v in headers.items() if k.lower() == "x-forwarded-for"), "")
    return forwarded.split(",")[0].strip() or "127.0.0.1"


class ResponseCache:
    """Encoded answers by (request, visibility), LRU within a byte budget.

    An answer only depends on the request and on what the clock lets it see, so repeated
    queries (a second warehouse build, a benchmark rerun) skip generation and encoding.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int, int], tuple[list[str], str, bool, int]] = (
            OrderedDict()
        )
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int]) -> tuple[list[str], str, bool, int] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple[str, int, int], value: tuple[list[str], str, bool, int]) -> None:
        size = len(value[1])
        if size > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old[1])


class TushareService:
    def __init__(
        self, market: Market, policy: AccessPolicy, faults: FaultInjector, stats: ServedStats
    ) -> None:
        self.market, self.policy, self.faults, self.stats = market, policy, faults, stats
        self.limiter = RateLimiter(policy.limits())
        self.cache = ResponseCache()

    def set_policy(self, policy: AccessPolicy) -> None:
        self.policy = policy
        self.limiter.limits = policy.limits()

    def _refuse(self, rid: str, verdict: str, api: str, fp: str) -> SimResponse:
        """The refusal of ``verdict`` in one of its real wordings (a stable pick per request)."""
        policy, pick = self.policy, int(fp[:8], 16)
        self.stats.refusal(verdict, api)
        if verdict == "ip":
            return self._error(rid, proto.ERR_RATE, proto.MSG_IP.format(n=policy.max_ips))
        if verdict == "quota":
            n = policy.daily_quotas[api]
            msg = proto.MSG_QUOTAS[pick % 2].format(api=api, n=n)
        else:
            n = self.limiter.limits.stated(api) or 500
            msg = proto.MSG_RATES[pick % 2].format(api=api, n=n)
        return self._error(rid, proto.ERR_RATE, msg)

    def _error(self, rid: str, code: int, msg: str, wait_s: float = 0.0) -> SimResponse:
        self.stats.error(code)
        return SimResponse(body=proto.error_body(rid, code, msg), wait_s=wait_s)

    def handle(self, req: SimRequest, path_api: str | None) -> SimResponse:
        try:
            body = json.loads(req.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return self._error("", proto.ERR_REQUEST, "请求格式错误: body must be a JSON object")
        api = str(body.get("api_name") or path_api or "")
        params, fields, token = body.get("params"), body.get("fields"), body.get("token")
        fp = proto.fingerprint(api, params, fields)
        attempt = self.faults.attempt(fp)
        rid = proto.request_id(self.market.seed, fp, attempt)
        if not api:
            return self._error(rid, proto.ERR_REQUEST, "请求格式错误: api_name is missing")
        self.stats.call(api)
        plan = self.faults.plan(api, str(token or ""), fp, attempt)
        self.stats.fault(plan.kinds)
        if plan.drop:
            return SimResponse(drop=True, wait_s=plan.delay_s)
        if plan.timeout:
            return SimResponse(drop=True, wait_s=self.faults.config.timeout_s)
        if plan.status is not None:
            self.stats.error(plan.status)
            return SimResponse(
                status=plan.status,
                wait_s=plan.delay_s,
                body=f"simulated HTTP {plan.status}".encode(),
                content_type="text/plain; charset=utf-8",
            )
        response = self._answer(
            rid, fp, api, params, fields, str(token or ""), plan, attempt, req.headers
        )
        response.wait_s = plan.delay_s
        return response

    def _answer(
        self,
        rid: str,
        fp: str,
        api: str,
        params: object,
        fields: object,
        token: str,
        plan: FaultPlan,
        attempt: int,
        headers: dict[str, str],
    ) -> SimResponse:
        policy = self.policy
        if not token or (policy.tokens is not None and token not in policy.tokens):
            return self._error(rid, proto.ERR_TOKEN, proto.MSG_TOKEN)
        if api in policy.denied_apis:
            return self._error(rid, proto.ERR_PERMISSION, proto.MSG_PERMISSION.format(api=api))
        ip = req_ip(headers)
        verdict = self.limiter.check(token, api, ip, self.market.clock.now.date())
        if verdict == "ok" and plan.refusal is not None:
            self.stats.refusal("scripted", api)
            return self._error(rid, self.faults.config.refusal_code, plan.refusal)
        if verdict == "ok" and plan.rate_limited:
            verdict = "rate"
        if verdict != "ok":
            return self._refuse(rid, verdict, api, fp)
        if api not in HANDLERS:
            return self._error(rid, proto.ERR_REQUEST, proto.MSG_UNKNOWN_API.format(api=api))
        if params is not None and not isinstance(params, dict):
            return self._error(rid, proto.ERR_REQUEST, "参数错误: params must be a JSON object")
        vis = self.market.visibility()
        key = (fp, vis.today, vis.last_day)
        corrupt = plan.malformed or plan.extra_column
        cached = None if corrupt else self.cache.get(key)
        if cached is None:
            try:
                result = answer(self.market, api, params, fields, vis)
            except ParamError as exc:
                return self._error(rid, proto.ERR_REQUEST, str(exc))
            frame = result.frame
            if corrupt:
                frame = self.faults.corrupt(frame, plan, attempt)
            cached = (
                [str(c) for c in frame.columns],
                proto.encode_items(frame, api),
                result.has_more,
                len(frame),
            )
            if not corrupt:
                self.cache.put(key, cached)
        names, items, has_more, rows = cached
        self.stats.served(api, rows)
        return SimResponse(body=proto.success_body(rid, names, items, has_more))
