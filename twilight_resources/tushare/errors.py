"""Typed upstream errors: each says what happened, none carries the token."""

from __future__ import annotations

RATE_LIMIT_MARKERS = ("每分钟最多访问", "每小时最多访问", "请求过于频繁", "每天最多访问")
PERMISSION_MARKERS = ("没有接口", "权限")


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
    """The token has no permission (points) for this API (code 40203)."""


class TushareRequestError(TushareError):
    """The upstream rejected the parameters or the API name; fix the call."""


class TushareRateLimited(TushareError):
    """The per-minute quota was exceeded; retried after backoff."""

    transient = True


class TushareUnavailable(TushareError):
    """Timeouts, dropped connections, 5xx, unreadable answers; retried after backoff."""

    transient = True


class TushareRetriesExhausted(TushareError):
    """A transient failure outlived every retry; ``last`` is the final error."""

    def __init__(self, last: TushareError, attempts: int) -> None:
        self.last, self.attempts = last, attempts
        message = f"gave up after {attempts} attempts: {last.message}"
        super().__init__(last.api_name, message, last.code)


def classify(api_name: str, code: int, message: str) -> TushareError:
    """Turn a non-zero Tushare answer code into the matching error type."""
    if code == 40101:
        return TushareAuthError(api_name, message, code)
    if any(marker in message for marker in RATE_LIMIT_MARKERS):
        return TushareRateLimited(api_name, message, code)
    if code == 40203 or any(marker in message for marker in PERMISSION_MARKERS):
        return TusharePermissionError(api_name, message, code)
    return TushareRequestError(api_name, message, code)
