"""Where the AKShare source sends its requests, decided from the settings at call time."""

from __future__ import annotations

from twilight_resources.akshare.client import AkshareClient
from twilight_resources.settings import REAL_TUSHARE_URL, TwilightSettings


def akshare_base_url(settings: TwilightSettings) -> str | None:
    """``TWILIGHT_AKSHARE_BASE_URL``; else, in simulator mode, the simulator (which also speaks
    Eastmoney); else ``None``: the real Eastmoney hosts."""
    if settings.akshare_base_url:
        return settings.akshare_base_url
    if settings.tushare_token is None:
        if settings.tushare_api_url != REAL_TUSHARE_URL:
            return settings.tushare_api_url
        from twilight_resources.embedded import ensure_simulator

        return ensure_simulator(settings)
    return None


def client_from_settings(
    settings: TwilightSettings, timeout: float | None = None, lazy: bool = False
) -> AkshareClient:
    """A client for ``settings``; ``lazy`` resolves the base URL on the first call."""
    base = (lambda: akshare_base_url(settings)) if lazy else akshare_base_url(settings)
    return AkshareClient(base, timeout or settings.akshare_timeout)
