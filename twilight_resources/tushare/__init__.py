"""The Tushare Pro upstream: client, errors, budget, journal and the Dagster resource."""

from twilight_resources.tushare.client import ROW_CAPS, TushareClient, TushareRequest
from twilight_resources.tushare.errors import (
    TushareAuthError,
    TushareError,
    TusharePermissionError,
    TushareRateLimited,
    TushareRequestError,
    TushareRetriesExhausted,
    TushareUnavailable,
)
from twilight_resources.tushare.resource import TushareResource, client_from_settings

__all__ = [
    "ROW_CAPS",
    "TushareAuthError",
    "TushareClient",
    "TushareError",
    "TusharePermissionError",
    "TushareRateLimited",
    "TushareRequest",
    "TushareRequestError",
    "TushareResource",
    "TushareRetriesExhausted",
    "TushareUnavailable",
    "client_from_settings",
]
