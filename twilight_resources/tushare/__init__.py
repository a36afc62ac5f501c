"""The Tushare Pro upstream: client, errors, budget, journal and the Dagster resource."""

from twilight_resources.tushare.client import ROW_CAPS, ApiPressure, TushareClient, TushareRequest
from twilight_resources.tushare.errors import (
    TushareAnswerTooLarge,
    TushareAuthError,
    TushareCancelled,
    TushareError,
    TushareIpLimit,
    TushareMalformedAnswer,
    TusharePermissionError,
    TushareQuotaExhausted,
    TushareRateLimited,
    TushareRefused,
    TushareRequestError,
    TushareRetriesExhausted,
    TushareUnavailable,
)
from twilight_resources.tushare.resource import TushareResource, client_from_settings

__all__ = [
    "ROW_CAPS",
    "ApiPressure",
    "TushareAnswerTooLarge",
    "TushareAuthError",
    "TushareCancelled",
    "TushareClient",
    "TushareError",
    "TushareIpLimit",
    "TushareMalformedAnswer",
    "TusharePermissionError",
    "TushareQuotaExhausted",
    "TushareRateLimited",
    "TushareRefused",
    "TushareRequest",
    "TushareRequestError",
    "TushareResource",
    "TushareRetriesExhausted",
    "TushareUnavailable",
    "client_from_settings",
]
