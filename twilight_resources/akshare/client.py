"""The AKShare source: ``akshare`` imported on first use, its HTTP routed, answers normalized.

``akshare`` is imported lazily: a platform whose ``akshare`` is missing or broken still starts,
and the first call that needs it raises :class:`AkshareUnavailableError` (a
``ProviderUnavailableError``, so the quote composer falls back to the warehouse). Any failure of a
call (network, an answer ``akshare`` cannot parse) is raised the same way, with a message that
names the function and never a secret.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date
from importlib import metadata
from types import ModuleType
from typing import Any

import pandas as pd
from packaging.specifiers import SpecifierSet

from twilight_resources.akshare.normalize import (
    UnsupportedCodeError,
    bid_ask_to_quote,
    hist_to_daily,
    spot_to_daily,
    to_symbol,
)
from twilight_resources.akshare.routing import route_eastmoney
from twilight_resources.logs import redact
from twilight_resources.providers.base import ProviderUnavailableError

log = logging.getLogger(__name__)

# The releases whose request URLs and columns the contract tests (tests/akshare) pin down.
SUPPORTED_AKSHARE = SpecifierSet(">=1.17,<1.20")
ADJUST = ("", "qfq", "hfq")


class AkshareUnavailableError(ProviderUnavailableError):
    """``akshare`` cannot answer: not importable, unreachable, or an answer it cannot parse."""


class AkshareNoDataError(AkshareUnavailableError):
    """``akshare`` answered, with nothing for the question (no bar that day, unknown code)."""


_import_lock = threading.Lock()
_module: ModuleType | None = None


def load_akshare() -> ModuleType:
    """``import akshare`` once; a failure is an :class:`AkshareUnavailableError`, not a crash."""
    global _module
    if _module is not None:
        return _module
    with _import_lock:
        if _module is None:
            try:
                import akshare
            except Exception as exc:  # ImportError, or a broken dependency inside akshare
                raise AkshareUnavailableError(
                    f"provider unavailable: akshare cannot be imported ({type(exc).__name__}: "
                    f"{exc}); install akshare{SUPPORTED_AKSHARE}"
                ) from None
            version = metadata.version("akshare")
            if version not in SUPPORTED_AKSHARE:
                log.warning(
                    "akshare %s is outside the supported range %s: its requests or columns "
                    "may have changed (run tests/akshare)",
                    version,
                    SUPPORTED_AKSHARE,
                )
            _module = akshare
    return _module


class AkshareClient:
    """Calls of the ``akshare`` functions twilight uses, in Tushare's names and units.

    ``base_url`` (the simulator, or a mirror) receives Eastmoney's requests instead of
    Eastmoney; ``None`` means the real Eastmoney hosts.
    """

    def __init__(
        self, base_url: str | Callable[[], str | None] | None, timeout: float = 10.0
    ) -> None:
        # A callable is resolved on first use: finding the embedded simulator may start it,
        # which a process that never asks AKShare should not pay for.
        self._base_url = base_url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AkshareClient(timeout={self.timeout})"

    @property
    def base_url(self) -> str | None:
        if callable(self._base_url):
            try:
                self._base_url = self._base_url()
            except Exception as exc:
                raise AkshareUnavailableError(f"no AKShare base URL: {exc}") from None
        return self._base_url

    def _module(self) -> ModuleType:
        ak = load_akshare()
        base_url = self.base_url
        if base_url:
            route_eastmoney(base_url, self.timeout)
        return ak

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        function: Callable[..., Any] = getattr(self._module(), name)
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # requests errors, or parsing an answer that is not there
            shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
            raise AkshareUnavailableError(
                f"akshare {name}({shown}): {type(exc).__name__}: {redact(str(exc))[:200]}"
            ) from None

    def daily(
        self, ts_code: str, start: date | str, end: date | str, adjust: str = ""
    ) -> pd.DataFrame:
        """Daily bars of one stock (``stock_zh_a_hist``) as Tushare ``daily`` rows."""
        if adjust not in ADJUST:
            raise ValueError(f"adjust must be one of {ADJUST}, not {adjust!r}")
        try:
            symbol = to_symbol(ts_code)
        except UnsupportedCodeError as exc:
            raise AkshareUnavailableError(str(exc)) from None
        frame = self._call(
            "stock_zh_a_hist",
            symbol=symbol,
            period="daily",
            start_date=_yyyymmdd(start),
            end_date=_yyyymmdd(end),
            adjust=adjust,
            timeout=self.timeout,
        )
        return hist_to_daily(frame, ts_code)

    def today(self, ts_code: str, day: date) -> pd.Series:
        """``day``'s bar so far (Eastmoney's daily kline includes the session in progress).

        The live quote: one request, and unlike ``stock_bid_ask_em`` it says which session
        the price belongs to, so a quote from another day is never served as today's.
        """
        frame = self.daily(ts_code, day, day)
        if frame.empty or frame["trade_date"].iloc[0] != day.strftime("%Y%m%d"):
            raise AkshareNoDataError(f"akshare has no bar of {ts_code} for {day:%Y-%m-%d}")
        return frame.iloc[0]

    def quote(self, ts_code: str) -> dict[str, float]:
        """One stock's price now (``stock_bid_ask_em``), amount in thousand yuan, vol in lots."""
        try:
            symbol = to_symbol(ts_code)
        except UnsupportedCodeError as exc:
            raise AkshareUnavailableError(str(exc)) from None
        frame = self._call("stock_bid_ask_em", symbol=symbol)
        try:
            return bid_ask_to_quote(frame)
        except (KeyError, TypeError, ValueError) as exc:
            raise AkshareUnavailableError(f"akshare stock_bid_ask_em({symbol}): {exc}") from None

    def spot(self, trade_date: date | str) -> pd.DataFrame:
        """The whole market now (``stock_zh_a_spot_em``; pages of 100 with 0.5-1.5 s pauses)."""
        return spot_to_daily(self._call("stock_zh_a_spot_em"), _yyyymmdd(trade_date))


def _yyyymmdd(value: date | str) -> str:
    return value.strftime("%Y%m%d") if isinstance(value, date) else str(value).replace("-", "")
