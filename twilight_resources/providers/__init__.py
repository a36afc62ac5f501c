"""Quote providers, chosen by capability and market state (see :mod:`.base`)."""

from twilight_resources.providers.base import (
    Capability,
    ProviderRegistry,
    ProviderUnavailableError,
    Quote,
    QuoteProvider,
    UnknownSecurityError,
)
from twilight_resources.providers.warehouse import WarehouseLastCloseProvider

__all__ = [
    "Capability",
    "ProviderRegistry",
    "ProviderUnavailableError",
    "Quote",
    "QuoteProvider",
    "UnknownSecurityError",
    "WarehouseLastCloseProvider",
]
