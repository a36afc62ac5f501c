"""Logging to stdout with timestamps and logger names in every process (seed A2).

A redaction filter removes secrets (the Tushare token, bearer tokens) from every record, so a
secret that slips into an exception message still never reaches a log.
"""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"
REDACTED = "***"


class RedactSecrets(logging.Filter):
    """Replaces every registered secret in the rendered message with ``***``."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def register_secret(secret: str | None) -> None:
    """Remember a secret so that logs and error texts never show it."""
    if secret and len(secret) >= 4:
        RedactSecrets.secrets.add(secret)


def redact(text: str) -> str:
    for secret in RedactSecrets.secrets:
        text = text.replace(secret, REDACTED)
    return text


def configure_logging(level: int = logging.INFO) -> None:
    """Route the root logger to stdout once; idempotent across repeated calls."""
    root = logging.getLogger()
    if not any(getattr(h, "_twilight", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RedactSecrets())
        handler._twilight = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # One line per HTTP request drowns the logs; the call journal records every call instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
