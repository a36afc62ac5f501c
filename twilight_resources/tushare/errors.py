"""Typed upstream errors, classified from what Tushare's answer says; none carries the token.

Tushare answers a refused call with code 40203 (sometimes -2002) whatever the reason, so the code
alone cannot tell a rate limit from a missing permission: the message decides. The wordings users
have met over the years are kept with their sources in ``tests/resources/refusals.json``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
Window = Literal["minute", "hour", "day"]
WINDOWS: dict[str, Window] = {"分钟": "minute", "小时": "hour", "天": "day", "日": "day"}

# "抱歉，您每分钟最多访问该接口500次" and "抱歉，您访问接口(daily)频率超限(400次/分钟)".
_LIMIT_OLD = re.compile(r"每(分钟|小时|天|日)最多访问(?:该)?接口\s*(\d+)\s*次")
_LIMIT_NEW = re.compile(r"频率超限\s*[(（]\s*(\d+)\s*次\s*/\s*(分钟|小时|天|日)\s*[)）]")
_IP_LIMIT = re.compile(r"IP数量超限(?:[^0-9]*(\d+)\s*个)?")
_RATE_WORDS = ("频繁", "频率", "超限", "上限", "次数", "稍后再试", "稍晚点再试")
_PERMISSION_WORDS = ("权限", "积分不足")
# Every refusal, rate limits included, ends with a link ("权限的具体详情访问：…" or
# "具体频次详情：…"); those words say nothing about the reason and are cut before reading.
_BOILERPLATE = re.compile(r"[，,。]?\s*(?:权限的)?具体(?:频次)?详情[^。]*。?")


class TushareError(Exception):
    """Base class; ``code`` is Tushare's answer code where there was one."""

    transient = False

    def __init__(self, api_name: str, message: str, code: int | None = None) -> None:
        self.api_name, self.code, self.message = api_name, code, message
        prefix = f"tushare {api_name}" + (f" (code {code})" if code is not None else "")
        super().__init__(f"{prefix}: {message}")


class TushareAuthError(TushareError):
    """The token is wrong or expired (code 40101); retrying cannot help."""


class TusharePermissionError(TushareError):
    """The token has no permission (points) for this API."""


class TushareRequestError(TushareError):
    """The upstream rejected the parameters or the API name; fix the call."""


class TushareRefused(TushareError):
    """A refusal whose wording we do not know and that names neither a rate nor a permission."""


@dataclass(frozen=True)
class Limit:
    """A limit the upstream stated in a refusal: ``calls`` per ``window``."""

    calls: int | None
    window: Window


class TushareRateLimited(TushareError):
    """A per-minute or per-hour limit was hit; the token pauses, then the call is retried."""

    transient = True

    def __init__(
        self, api_name: str, message: str, code: int | None = None, limit: Limit | None = None
    ) -> None:
        super().__init__(api_name, message, code)
        self.limit = limit or Limit(None, "minute")


class TushareQuotaExhausted(TushareError):
    """The per-day quota of this API is spent: final until the quota resets (Shanghai midnight)."""

    def __init__(
        self,
        api_name: str,
        message: str,
        code: int | None = None,
        *,
        calls: int | None = None,
        now: datetime | None = None,
    ) -> None:
        self.calls = calls
        self.resets_at = next_shanghai_midnight(now)
        quota = f"{calls} calls a day" if calls else "its daily quota"
        explained = (
            f"daily quota spent: {api_name} allows {quota} for this token; it resets at "
            f"{self.resets_at:%Y-%m-%d %H:%M} Asia/Shanghai. Rerun then, or raise the token's "
            f"points (upstream said: {message})"
        )
        super().__init__(api_name, explained, code)


class TushareIpLimit(TushareError):
    """The token is used from more IP addresses than its tier allows; final until fixed."""

    def __init__(self, api_name: str, message: str, code: int | None = None) -> None:
        match = _IP_LIMIT.search(message)
        allowed = f" (at most {match.group(1)})" if match and match.group(1) else ""
        explained = (
            f"the token is used from more IP addresses than its tier allows{allowed}: stop the "
            f"other machines or proxies using this token and wait for Tushare to release them "
            f"(upstream said: {message})"
        )
        super().__init__(api_name, explained, code)


class TushareUnavailable(TushareError):
    """Timeouts, dropped connections, 5xx; retried after backoff."""

    transient = True


class TushareMalformedAnswer(TushareError):
    """An answer that is not the protocol's shape; ``transient`` where a retry can help.

    A body cut short or not JSON at all is what a flaky proxy sends and is retried; a
    well-formed JSON answer of the wrong shape will be the same next time and is not.
    """

    def __init__(self, api_name: str, message: str, *, transient: bool = False) -> None:
        super().__init__(api_name, f"malformed answer: {message}")
        self.transient = transient


class TushareAnswerTooLarge(TushareError):
    """A call's answer outgrew the rows its caller allows; narrow the request."""


class TushareCancelled(TushareError):
    """The caller cancelled the call or its deadline passed before it finished."""


class TushareRetriesExhausted(TushareError):
    """A transient failure outlived every retry; ``last`` is the final error."""

    def __init__(self, last: TushareError, attempts: int) -> None:
        self.last, self.attempts = last, attempts
        message = f"gave up after {attempts} attempts: {last.message}"
        super().__init__(last.api_name, message, last.code)


def next_shanghai_midnight(now: datetime | None = None) -> datetime:
    """When a per-day quota resets: the next midnight on the exchange's clock."""
    local = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def stated_limit(message: str) -> Limit | None:
    """The calls-per-window a refusal states, in either wording Tushare has used."""
    if match := _LIMIT_OLD.search(message):
        return Limit(int(match.group(2)), WINDOWS[match.group(1)])
    if match := _LIMIT_NEW.search(message):
        return Limit(int(match.group(1)), WINDOWS[match.group(2)])
    return None


def classify(api_name: str, code: int, message: str) -> TushareError:
    """Turn a non-zero Tushare answer into the matching error type, by what the message says."""
    if code == 40101 or "token不对" in message:
        return TushareAuthError(api_name, message, code)
    if "IP数量超限" in message:
        return TushareIpLimit(api_name, message, code)
    limit = stated_limit(message)
    if limit is not None:
        if limit.window == "day":
            return TushareQuotaExhausted(api_name, message, code, calls=limit.calls)
        return TushareRateLimited(api_name, message, code, limit)
    reason = _BOILERPLATE.sub("", message)
    if any(word in reason for word in _RATE_WORDS):
        log.warning(
            "tushare %s: refusal read as a rate limit, wording unknown: %s", api_name, message
        )
        return TushareRateLimited(api_name, message, code)
    if any(word in reason for word in _PERMISSION_WORDS):
        return TusharePermissionError(api_name, message, code)
    if code == 40203:
        log.warning(
            "tushare %s: unrecognised refusal (code 40203), not retried: %s", api_name, message
        )
        return TushareRefused(api_name, f"unrecognised refusal: {message}", code)
    return TushareRequestError(api_name, message, code)
