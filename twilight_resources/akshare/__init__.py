"""AKShare as twilight's second source: lazy import, HTTP routing, Tushare-shaped answers."""

from twilight_resources.akshare.client import (
    SUPPORTED_AKSHARE,
    AkshareClient,
    AkshareUnavailableError,
    load_akshare,
)
from twilight_resources.akshare.normalize import (
    UnsupportedCodeError,
    amount_to_tushare,
    hist_to_daily,
    spot_to_daily,
    to_symbol,
    to_ts_code,
)
from twilight_resources.akshare.routing import route_eastmoney, unroute_eastmoney

__all__ = [
    "SUPPORTED_AKSHARE",
    "AkshareClient",
    "AkshareUnavailableError",
    "UnsupportedCodeError",
    "amount_to_tushare",
    "hist_to_daily",
    "load_akshare",
    "route_eastmoney",
    "spot_to_daily",
    "to_symbol",
    "to_ts_code",
    "unroute_eastmoney",
]
